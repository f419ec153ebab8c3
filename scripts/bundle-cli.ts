/**
 * `npm run build` (after tsc): the `tandem` command as a bundle, dist/cli/tandem.js, with one chunk per command.
 *
 * Why: every command is a new Node process, and loading tsc's output file by file was a third of a short command's
 * time (`tandem verify` of a 1M-row table: about 0.3 s of 1.5 s went to loading some 270 ES modules, zod and yaml
 * among them). Node's module loader pays per file; one chunk per command pays once. `tandem run` starts faster too,
 * and so does every CLI call in a cutover.
 *
 * What stays outside (loaded from node_modules as before): drivers and packages that find files or workers of their
 * own at run time (pg's optional native binding, mysql2 loaded by name, pino's worker transports, fastify's plugins,
 * Kafka), so each works exactly as under tsc's output. The tests and the bench run this bundle, as users do.
 */
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** Plain JavaScript with no files of its own to find: bundled. */
const BUNDLED = new Set(['commander', 'zod', 'yaml', 'lossless-json', 'p-retry', 'cli-progress']);

const external = Object.keys(pkg.dependencies).filter((d) => !BUNDLED.has(d));

const outdir = join(root, 'dist', 'cli');
// Chunk names carry a hash: without this, every build would leave the last one's chunks beside its own.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { tandem: join(root, 'dist', 'src', 'cli', 'bin.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [...external, ...external.map((d) => `${d}/*`)],
  // Bundled CommonJS (commander) calls require() for Node's own modules; an ES module has none of its own.
  banner: { js: "import { createRequire as __tandemRequire } from 'node:module'; const require = __tandemRequire(import.meta.url);" },
  sourcemap: true,
  // Beside the entry: modules that find files relative to themselves (src/version.ts) see the same depth.
  chunkNames: '[name]-[hash]',
  logLevel: 'warning',
});
