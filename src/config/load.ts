import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type * as z from 'zod';
import { TandemError } from '../errors.js';
import { configSchema, type TandemConfig } from './schema.js';
import { passwordOf, redact, redactUrl, registerSecret, userInfoProblem } from './redact.js';

export const DEFAULT_CONFIG_FILE = 'tandem.yaml';
/** TANDEM_* variables that are not config keys. */
const NON_CONFIG_ENV = /^TANDEM_(CONFIG|LOG_LEVEL|TEST_.*|KEEP_.*)$/;

export interface LoadedConfig {
  config: TandemConfig;
  file: string;
}

export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(cliPath ?? env.TANDEM_CONFIG ?? DEFAULT_CONFIG_FILE);
}

export function loadConfig(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = resolveConfigPath(cliPath, env);
  if (!existsSync(file)) {
    throw new TandemError('TANDEM_CONFIG_NOT_FOUND', `no configuration file at ${file}`, {
      fix: `create ${DEFAULT_CONFIG_FILE} (see README: "Configuration"), or pass --config PATH, or set TANDEM_CONFIG`,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` line ${err.linePos[0].line}` : '';
    throw new TandemError('TANDEM_CONFIG_INVALID', `${file}${where} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {
      fix: 'correct the YAML syntax at that line',
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TandemError('TANDEM_CONFIG_INVALID', `${file} must hold a mapping of keys (migration, old, new, ...)`, {
      fix: 'see README: "Configuration" for the minimal form',
    });
  }
  return { config: parseConfig(applyEnvOverrides(raw as Record<string, unknown>, env), file), file };
}

/** Validate an already-read config object; errors name each key, its value and the expected form. */
export function parseConfig(input: Record<string, unknown>, source = 'configuration'): TandemConfig {
  // Register before validating, so that even an error message about a URL cannot print its password.
  const urlProblems: string[] = [];
  for (const sideName of ['old', 'new']) {
    const url = (input[sideName] as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string') continue;
    registerSecret(passwordOf(url));
    const problem = userInfoProblem(url);
    if (problem) urlProblems.push(`${sideName}.url: ${redactUrl(url)} — ${problem}`);
  }
  if (urlProblems.length) {
    throw new TandemError('TANDEM_CONFIG_INVALID', `invalid ${source}:\n${urlProblems.map((l) => `  - ${l}`).join('\n')}`, {
      fix: 'percent-encode special characters in the password: @ → %40, / → %2F, # → %23, ? → %3F, % → %25 (e.g. encodeURIComponent)',
    });
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, input));
    throw new TandemError('TANDEM_CONFIG_INVALID', `invalid ${source}:\n${lines.map((l) => `  - ${l}`).join('\n')}`, {
      fix: 'correct the keys above (README: "Configuration" lists every key and its default)',
    });
  }
  for (const token of result.data.api.tokens) registerSecret(token.token);
  for (const url of [result.data.drill.load.old, result.data.drill.load.new]) if (url) registerSecret(passwordOf(url));
  // Hook headers carry credentials (Authorization, API keys) and webhook URLs may carry them in their user info.
  for (const h of [...result.data.hooks.onSwitch, ...result.data.hooks.onPhase]) {
    for (const value of Object.values(h.headers)) {
      registerSecret(value);
      // `Bearer <token>`, `Basic <credentials>`: the credentials alone are the secret too (a hook's own error
      // output may quote the token without its scheme).
      const credentials = /^[A-Za-z][\w.-]*\s+(\S.*)$/.exec(value.trim())?.[1];
      if (credentials) registerSecret(credentials);
    }
    if (h.url) registerSecret(passwordOf(h.url));
  }
  // Notification webhooks: the same for headers; and a webhook URL's path is often the secret itself (Slack's).
  for (const w of result.data.notify.webhooks) {
    for (const value of Object.values(w.headers)) {
      registerSecret(value);
      const credentials = /^[A-Za-z][\w.-]*\s+(\S.*)$/.exec(value.trim())?.[1];
      if (credentials) registerSecret(credentials);
    }
    registerSecret(passwordOf(w.url));
    const path = /^https?:\/\/[^/?#]+([/?#].*)?$/.exec(w.url)?.[1];
    if (path && path.length > 1) registerSecret(path);
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String);
  const where = path.length ? path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(path);
    return issue.keys
      .map((key) => {
        const hint = closest(key, allowed);
        return `${path.length ? `${where}.` : ''}${key}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${allowed.join(', ')}`;
      })
      .join('\n  - ');
  }
  const value = valueAt(input, path);
  const shown = value === undefined ? 'missing' : redact(JSON.stringify(value));
  return `${where}: ${shown} — ${issue.message}`;
}

function valueAt(input: unknown, path: string[]): unknown {
  let cur = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

// --- schema walking, for key suggestions and environment overrides ---

type SchemaNode = z.core.$ZodType;

function unwrap(node: SchemaNode): SchemaNode {
  let cur = node;
  // optional / default / prefault wrap the real type in `innerType`
  for (;;) {
    const def = cur._zod.def as { innerType?: SchemaNode; in?: SchemaNode; type: string };
    if (def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

function shapeOf(node: SchemaNode): Record<string, SchemaNode> | undefined {
  const def = unwrap(node)._zod.def as { type: string; shape?: Record<string, SchemaNode> };
  return def.type === 'object' ? def.shape : undefined;
}

function allowedKeysAt(path: string[]): string[] {
  let node: SchemaNode | undefined = configSchema;
  for (const key of path) node = node ? shapeOf(node)?.[key] : undefined;
  return node ? Object.keys(shapeOf(node) ?? {}) : [];
}

/** Every leaf of the config as [path, env variable name]: cutover.maxLag ↔ TANDEM_CUTOVER_MAX_LAG. */
export function configEnvVariables(): Array<[string[], string]> {
  const out: Array<[string[], string]> = [];
  const walk = (node: SchemaNode, path: string[]) => {
    const shape = shapeOf(node);
    if (!shape) {
      out.push([path, 'TANDEM_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')]);
      return;
    }
    for (const [key, child] of Object.entries(shape)) walk(child, [...path, key]);
  };
  walk(configSchema, []);
  return out;
}

export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const byName = new Map(configEnvVariables().map(([path, name]) => [name, path]));
  const unknown: string[] = [];
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TANDEM_') || NON_CONFIG_ENV.test(name) || value === undefined) continue;
    const path = byName.get(name);
    if (!path) {
      unknown.push(name);
      continue;
    }
    let cur: Record<string, unknown> = out;
    for (const key of path.slice(0, -1)) {
      const next = cur[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
      cur = cur[key] as Record<string, unknown>;
    }
    cur[path[path.length - 1] as string] = envValue(value);
  }
  if (unknown.length) {
    const names = [...byName.keys()];
    throw new TandemError(
      'TANDEM_CONFIG_INVALID',
      `unknown environment variable${unknown.length > 1 ? 's' : ''}: ${unknown
        .map((n) => {
          const hint = closest(n, names);
          return hint ? `${n} (did you mean ${hint}?)` : n;
        })
        .join(', ')}`,
      { fix: `unset it, or use one of: ${names.join(', ')}` },
    );
  }
  return out;
}

/** Lists, numbers and booleans are written as YAML in the environment; anything else (URLs, tokens) stays verbatim. */
function envValue(value: string): unknown {
  if (/^\s*[[{]/.test(value) || /^(true|false|-?\d+(\.\d+)?)$/.test(value)) {
    try {
      return parseYaml(value);
    } catch {
      return value;
    }
  }
  return value;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
