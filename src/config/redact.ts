/**
 * Secrets never leave the process in clear text. Every secret Tandem learns (URL passwords, API tokens) is
 * registered here, and every line Tandem prints or logs passes through `redact`.
 */
const secrets = new Set<string>();
export const REDACTED = '***';

export function registerSecret(secret: string | undefined | null): void {
  // Very short strings would redact ordinary words; they are weak passwords anyway, but still hidden in URLs below.
  if (secret && secret.length >= 3) {
    secrets.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) secrets.add(encoded);
  }
}

/** Replace the password of a connection URL, without needing the URL to parse. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):([^@\s]*)@/i, `$1:${REDACTED}@`);
}

export function redact(text: string): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):([^@\s]*)@/gi, `$1:${REDACTED}@`);
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** Passwords of URLs, for registration. */
export function passwordOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.password ? decodeURIComponent(parsed.password) : undefined;
  } catch {
    return undefined;
  }
}
