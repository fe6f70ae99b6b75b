// The server's API. The access token lives in this module's memory only; the refresh
// token is an HttpOnly cookie the page never sees, sent only to /api/auth.

const SESSION = { "X-HydroNet-Session": "cookie" };

let accessToken = null;
let refreshing = null;
let onSignedOut = () => {};

/** A refusal or failure from the server, with its problem `code`. */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code || "http_error";
    this.errors = problem?.errors || null;
    this.retryAfter = retryAfter;
  }
}

/** Called when the session is gone for good (refresh refused). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

/** Whether a session is held. */
export function signedIn() {
  return accessToken !== null;
}

async function problemOf(response) {
  const retry = Number(response.headers.get("Retry-After")) || null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  return new ApiError(response.status, body, retry);
}

async function post(path, body, headers = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...SESSION, ...headers },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

/** Signs in; the refresh token goes to the cookie. */
export async function login(email, password) {
  const body = await post("/api/auth/login", { email, password });
  accessToken = body.access_token;
  return body;
}

/** Creates a tenant with its owner and signs them in. */
export async function register(email, password, tenantName) {
  const body = await post("/api/auth/register", { email, password, tenant_name: tenantName });
  accessToken = body.access_token;
  return body;
}

/**
 * Spends the refresh cookie. Tabs take turns (Web Locks), since a refresh token works once
 * and two tabs presenting the same one at once would end the session.
 */
function exchange() {
  const call = () => post("/api/auth/refresh", {});
  return navigator.locks ? navigator.locks.request("hydronet-refresh", call) : call();
}

/** A new access token from the refresh cookie; false when there is no session. */
export function refresh() {
  refreshing ??= exchange()
    .then((body) => {
      accessToken = body.access_token;
      return true;
    })
    .catch(() => {
      accessToken = null;
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** Changes the password; other sessions end and this one continues with new tokens. */
export async function changePassword(oldPassword, newPassword) {
  const response = await send("PUT", "/api/auth/change-password", {
    old_password: oldPassword,
    new_password: newPassword,
  }, { headers: SESSION });
  const body = await response.json();
  accessToken = body.access_token;
  return body;
}

/** Ends the session on the server and forgets the token. */
export async function logout() {
  try {
    if (accessToken) await request("POST", "/api/auth/logout", {});
  } finally {
    accessToken = null;
  }
}

/**
 * A `fetch` to the API with the access token, refreshed once on a 401. Returns the
 * Response; throws ApiError when it is not OK (unless `raw` is set).
 */
export async function send(method, path, body, { signal, accept, raw, headers: extra } = {}) {
  const attempt = () => {
    const headers = { ...extra };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (accept) headers.Accept = accept;
    return fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "same-origin",
    });
  };
  let response = await attempt();
  if (response.status === 401 && !path.startsWith("/api/auth/refresh")) {
    if (await refresh()) {
      response = await attempt();
    } else {
      onSignedOut();
    }
  }
  if (!response.ok && !raw) throw await problemOf(response);
  return response;
}

/** A JSON request; the parsed body. */
export async function request(method, path, body) {
  const response = await send(method, path, body);
  return response.status === 204 ? {} : response.json();
}

export const get = (path) => request("GET", path);
export const del = (path) => request("DELETE", path);
export const put = (path, body) => request("PUT", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const postJson = (path, body = {}) => request("POST", path, body);

/** A query string from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * Reads a Server-Sent Events body, calling `onEvent(name, data)` for each event as it
 * arrives. Resolves when the stream ends; rejects with AbortError when aborted.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      dispatch(block, onEvent);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const fieldName = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (fieldName === "event") name = value;
    else if (fieldName === "data") data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    parsed = data.join("\n");
  }
  onEvent(name, parsed);
}
