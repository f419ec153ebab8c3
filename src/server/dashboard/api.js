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

const asked = new Map();
const shown = new Map();

/**
 * GET for a refresh that renders what it reads, in the order the GETs were made: null when a response to a later GET
 * of the same path has already been returned. Events in a burst (a switch's audit records) start overlapping
 * refreshes whose responses can arrive out of order, and an older response rendered last would put back what the
 * newer one had replaced, until the next event. (Keeping only the newest GET's response instead would starve a page
 * whose refreshes start faster than the server answers them.)
 */
export async function getInOrder(path) {
  const n = (asked.get(path) ?? 0) + 1;
  asked.set(path, n);
  const r = await api('GET', path);
  if (n < (shown.get(path) ?? 0)) return null;
  shown.set(path, n);
  return r;
}

/** The error of a failed call as one line: the API's message and fix. */
export function errorText(r) {
  const e = r.json && r.json.error;
  if (!e) return `HTTP ${r.status}`;
  return e.fix ? `${e.message} (${e.fix})` : e.message;
}
