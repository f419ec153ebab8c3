/**
 * The one place that knows which engines exist. Upper layers ask for an engine by kind or by a connection URL's
 * scheme, and then use only the EngineModule interface.
 */
import { TandemError } from '../errors.js';
import { redactUrl } from '../config/redact.js';
import type { EngineKind } from '../model/schema.js';
import type { EngineModule } from './engine.js';
import { postgresEngine } from './postgres/index.js';
import { mysqlEngine } from './mysql/index.js';

const ENGINES: readonly EngineModule[] = [postgresEngine, mysqlEngine];

export function engine(kind: EngineKind): EngineModule {
  const found = ENGINES.find((e) => e.kind === kind);
  if (!found) throw new TandemError('TANDEM_INTERNAL', `no engine module for ${kind}`);
  return found;
}

/** The engine a connection URL names by its scheme (`postgres://`, `mysql://`, ...). */
export function engineForUrl(url: string): EngineModule {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const found = ENGINES.find((e) => scheme !== undefined && e.urlSchemes.includes(scheme));
  if (found) return found;
  const examples = ENGINES.map((e) => `${e.urlSchemes[0]}://user@host/db`).join(' or ');
  throw new TandemError('TANDEM_UNSUPPORTED_URL', `unsupported database URL ${redactUrl(url)}`, {
    fix: `use ${examples} (${ENGINES.map((e) => `${e.urlSchemes.join('/')}: ${e.label}`).join('; ')})`,
  });
}

export const engineKinds = (): EngineKind[] => ENGINES.map((e) => e.kind);

export const supportedUrlSchemes = (): string[] => ENGINES.flatMap((e) => [...e.urlSchemes]);
