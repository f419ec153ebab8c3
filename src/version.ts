import { existsSync, readFileSync } from 'node:fs';

/** Tandem's version from package.json (found from src/ when run as TypeScript, from dist/src/ or dist/cli/ when built). */
export const VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) {
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tandem' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
})();
