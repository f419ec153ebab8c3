// Calls to the control API with the session cookie. The CSRF token lives in this module's memory only: a reload
// asks GET /api/v1/session for it again (the cookie is HttpOnly, so no script ever sees the session itself).
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

/** { status, ok, json } — json is the body parsed, or null. Never throws for an HTTP error status. */
export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  return { status: res.status, ok: res.ok, json };
}

/** The error of a failed call as one line: the API's message and fix. */
export function errorText(r) {
  const e = r.json && r.json.error;
  if (!e) return `HTTP ${r.status}`;
  return e.fix ? `${e.message} (${e.fix})` : e.message;
}
