// Talking to the server: the bearer token (kept in localStorage) and JSON requests.

const KEY = "asktell.token";

export const auth = {
  token: localStorage.getItem(KEY) || "",
  canWrite: false,
  openMode: false,
  ok: false,
  listeners: new Set(),
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || null;
    this.field = e.field || null;
  }
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, signal, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && auth.ok) refreshAuth();
    throw err;
  }
  return data;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Ask the server what the page may do; notify listeners. */
export async function refreshAuth() {
  try {
    const me = await api("/v1/dashboard/me");
    Object.assign(auth, { ok: true, canWrite: me.can_write, openMode: me.open_mode, error: null });
  } catch (e) {
    Object.assign(auth, { ok: false, canWrite: false, openMode: false, error: e });
  }
  for (const fn of auth.listeners) fn(auth);
  return auth;
}

export function setToken(token) {
  auth.token = (token || "").trim();
  if (auth.token) localStorage.setItem(KEY, auth.token);
  else localStorage.removeItem(KEY);
  return refreshAuth();
}

export function onAuth(fn) {
  auth.listeners.add(fn);
  return () => auth.listeners.delete(fn);
}

/** Fetch a file with the token and hand it to the browser as a download; returns its name and size. */
export async function download(path, fallbackName) {
  const headers = auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
  const res = await fetch(path, { headers, cache: "no-store" });
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    throw new ApiError(res.status, data);
  }
  const blob = await res.blob();
  const found = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
  const name = found ? found[1] : fallbackName;
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  Object.assign(link, { href, download: name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return { name, bytes: blob.size };
}
