#!/usr/bin/env node
/**
 * The `tandem` command's entry. Node 22.1 and later can keep V8's compiled code of the modules it loads on disk and
 * reuse it while their source is unchanged: compiling the command's modules is about a quarter of a short command's
 * start (`tandem verify --help`: 0.32 s without, 0.27 s with, Node 24). It is turned on before anything else loads;
 * Node 20 has no such cache and starts as before. NODE_DISABLE_COMPILE_CACHE=1 turns it off (Node's own switch),
 * NODE_COMPILE_CACHE=<dir> moves it (default: a directory in the system's temporary directory).
 */
import module from 'node:module';
import { boundYoungGeneration } from './young-generation.js';

boundYoungGeneration();
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await import('./main.js');
