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

/** A URL-shaped token: a scheme, `://`, then everything up to white space or a quote. */
const URL_TOKEN = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi;

/**
 * Masks a URL's password: everything between the user name's `:` and the **last** `@` of the token, so that a
 * password written with a raw `@` (`postgres://u:S3cr@t@host/db`, as people do) is hidden whole, not up to its
 * first `@`.
 */
function maskUserInfo(token: string): string {
  const start = token.indexOf('://') + 3;
  const at = token.lastIndexOf('@');
  if (at < start) return token;
  const colon = token.indexOf(':', start);
  if (colon < 0 || colon > at) return token;
  return `${token.slice(0, colon + 1)}${REDACTED}${token.slice(at)}`;
}

/** Replace the password of a connection URL, without needing the URL to parse. */
export function redactUrl(url: string): string {
  return url.replace(URL_TOKEN, maskUserInfo);
}

export function redact(text: string): string {
  let out = text.replace(URL_TOKEN, maskUserInfo);
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * The password of a URL as written: between the user name's `:` and the last `@` before the host, percent-decoded
 * when it decodes. Raw text, so that a password that keeps the URL from parsing is still known (and hidden).
 */
export function passwordOf(url: string): string | undefined {
  const start = url.indexOf('://');
  if (start < 0) return undefined;
  const at = url.lastIndexOf('@');
  const colon = url.indexOf(':', start + 3);
  if (at < 0 || colon < 0 || colon > at) return undefined;
  const raw = url.slice(colon + 1, at);
  if (!raw) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Why a connection URL's user part cannot be read as written, or undefined when it can: characters that end the
 * user part (`@`, `/`, `#`, `?`) or a `%` that is not an escape. No driver connects with such a URL, and a partial
 * read would show part of the password.
 */
export function userInfoProblem(url: string): string | undefined {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (start < 0 || at < start) return undefined;
  const userInfo = url.slice(start + 3, at);
  const bad = [...new Set(userInfo.match(/[@/#?]|%(?![0-9a-f]{2})/gi) ?? [])];
  if (bad.length === 0) return undefined;
  return `the user name or password holds ${bad.map((c) => (c.startsWith('%') ? 'a % that is not an escape' : `"${c}"`)).join(', ')}, which a URL cannot carry as is`;
}
