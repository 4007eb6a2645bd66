// The console's calls to /admin/*: the admin token (kept in sessionStorage, this tab only),
// the JSON request, and the errors it can end in (401 ends the session).

export const TOKEN_KEY = "switchboard.console.token";

/// The session: the token in use, and what to do when the server refuses it (set by app.js).
export const session = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  expired: () => {},
};

export class Unauthorized extends Error {}
export class ApiError extends Error {
  constructor(status, body) {
    const msg = body && (body.message || body.error) ? (body.message || body.error) : "HTTP " + status;
    super(msg); this.status = status; this.body = body;
  }
}

export async function api(method, path, body, useToken) {
  const headers = { "Authorization": "Bearer " + (useToken === undefined ? session.token : useToken),
    "Accept": "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, init); }
  catch (e) { throw new ApiError(0, { message: "could not reach Switchboard (" + e.message + ")" }); }
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch (e) { data = { message: text.slice(0, 300) }; } }
  if (res.status === 401) {
    if (useToken === undefined) session.expired();
    throw new Unauthorized("unauthorized");
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { status: res.status, data };
}

export function errText(e) {
  if (e instanceof ApiError) return (e.status ? e.status + ": " : "") + e.message;
  return String(e && e.message || e);
}
