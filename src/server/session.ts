/**
 * Browser sessions for the dashboard. The browser's EventSource cannot send an Authorization header, so the login
 * form trades a token for a session cookie (`HttpOnly; SameSite=Strict; Path=/`, `Secure` over TLS): the page never
 * holds the token after the login request, not in the URL, the DOM or its storage. The session id is random and
 * known only to this process (a restart logs everyone out). A POST authenticated by the cookie also needs the
 * session's CSRF token in `x-csrf-token`, which a page of another origin cannot read.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './auth.js';

export const SESSION_COOKIE = 'tandem_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface Session {
  principal: Principal;
  csrfToken: string;
  expiresAt: number;
}

const same = (a: string, b: string): boolean => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    readonly ttlMs = 8 * 3600_000,
    private readonly maxSessions = 10_000,
  ) {}

  create(principal: Principal, now = Date.now()): { id: string; session: Session } {
    this.sweep(now);
    // A flood of logins must not grow the map without bound: the oldest session goes first.
    if (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session = { principal, csrfToken: randomBytes(24).toString('base64url'), expiresAt: now + this.ttlMs };
    this.sessions.set(id, session);
    return { id, session };
  }

  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string | undefined): boolean {
    return id !== undefined && this.sessions.delete(id);
  }

  csrfMatches(session: Session, presented: string | undefined): boolean {
    return presented !== undefined && same(session.csrfToken, presented);
  }

  private sweep(now: number): void {
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}
