/**
 * Who may call the control API. Bearer tokens from `api.tokens` carry a role (`read` < `operate` < `admin`); the
 * per-start secret the service keeps in its lease (readable only with the database credentials) makes the caller a
 * local operator with every role. Tokens are compared in constant time: every configured token is compared, as
 * SHA-256 digests, whatever the first one's result. A token may be configured as `sha256:<hex>` (its digest).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'read' | 'operate' | 'admin';
const RANK: Record<Role, number> = { read: 1, operate: 2, admin: 3 };

export interface Principal {
  /** For the audit log: the token's name, or `local:<os-user>`. */
  actor: string;
  role: Role;
}

export interface TokenConfig {
  name: string;
  token: string;
  role: Role;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export function allows(principal: Principal, needed: Role): boolean {
  return RANK[principal.role] >= RANK[needed];
}

export class Authenticator {
  private readonly tokens: Array<{ name: string; role: Role; digest: Buffer }>;

  constructor(
    tokens: readonly TokenConfig[],
    private readonly localSecret: () => string | null,
  ) {
    // `sha256:<hex>`: tandem.yaml holds the token's digest only; the comparison is of digests either way.
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role, digest: /^sha256:[0-9a-f]{64}$/.test(t.token) ? Buffer.from(t.token.slice(7), 'hex') : digest(t.token) }));
  }

  /** The caller named by an `Authorization: Bearer …` header, or undefined. */
  authenticate(authorization: string | undefined, actorHeader: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const presented = digest(m[1] as string);
    let found: Principal | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(presented, t.digest) && !found) found = { actor: t.name, role: t.role };
    }
    const secret = this.localSecret();
    if (secret && timingSafeEqual(presented, digest(secret)) && !found) {
      const user = /^local:([\w.@-]{1,64})$/.exec(actorHeader ?? '')?.[1] ?? 'unknown';
      found = { actor: `local:${user}`, role: 'admin' };
    }
    return found;
  }
}
