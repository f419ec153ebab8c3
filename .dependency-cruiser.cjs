/* global module */
/**
 * Tandem's layering (DESIGN.md "Layout"), enforced by `npm run lint`:
 *   model ← engines ← (transport, replicate, backfill, verify, schema) ← control ← (server, cli)
 * `router` is the library applications import: it stands apart and imports only `model` (the drill's load, src/drill,
 * is such an application and writes through it). The base modules
 * (errors, log, version, config) may be used by every layer except `model` and `router`. Each engine's code stays
 * under its engine; upper layers reach engines only through src/engines/registry.ts and the EngineModule interface.
 */
const BASE = '^src/(errors|log|version)\\.ts$|^src/config/';
const MIDDLE = '^src/(transport|replicate|backfill|verify|schema)/';

/** `from` may not import anything under `to` (paths relative to the repository root). */
const forbid = (name, comment, from, to, pathNot) => ({ name, comment, severity: 'error', from: { path: from, ...(pathNot ? { pathNot } : {}) }, to: { path: to } });

module.exports = {
  forbidden: [
    forbid('model-is-the-bottom', 'model holds the words every layer shares: it imports nothing outside model', '^src/model/', '^src/(?!model/)'),
    forbid('router-imports-only-model', 'applications import the router: it must not pull in engines, drivers or the service', '^src/router/', '^src/(?!model/|router/)'),
    forbid('base-stays-base', 'errors, log, version and config are used by every layer and depend on none of them', BASE, '^src/(?!errors\\.ts|log\\.ts|version\\.ts|config/)'),
    forbid('engines-below-the-pipeline', 'engines implement the model for one database; they never reach up', '^src/engines/', '^src/(transport|replicate|backfill|verify|schema|control|server|cli|router)/'),
    forbid('pipeline-below-control', 'transport, replicate, backfill, verify and schema know nothing of control, the server or the CLI', MIDDLE, '^src/(control|server|cli|router)/'),
    forbid('control-below-surfaces', 'control is driven by the server and the CLI, never the other way', '^src/control/', '^src/(server|cli|router)/'),
    forbid('server-not-cli', 'the server does not depend on the command line', '^src/server/', '^src/(cli|router)/'),
    forbid('postgres-stays-postgres', 'engine-specific code lives under its engine', '^src/engines/postgres/', '^src/engines/mysql/'),
    forbid('mysql-stays-mysql', 'engine-specific code lives under its engine', '^src/engines/mysql/', '^src/engines/postgres/'),
    forbid(
      'engines-through-the-registry',
      'upper layers use an engine through the registry and the EngineModule interface, never an engine module directly',
      '^src/(transport|replicate|backfill|verify|schema|control|server|cli)/',
      '^src/engines/(postgres|mysql)/',
    ),
    { name: 'no-cycles', comment: 'a cycle makes two modules one', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
