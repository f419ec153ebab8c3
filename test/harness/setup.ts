/**
 * Vitest setup file (vitest.config.ts), run in every test file: the temporary folders the file made (configs, state
 * folders) are removed after its last test.
 */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

afterAll(() => removeTempDirs());
