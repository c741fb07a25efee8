// The console's JSON API (console/API.md). Every mutating request carries
// the session's CSRF token; errors become ApiError with the server's code.

let csrf = "";
export function setCSRF(token) { csrf = token || ""; }
export function csrfToken() { return csrf; }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || "HTTP " + status);
    this.status = status;
    this.code = code || "HTTP" + status;
  }
}

export async function errorFrom(res) {
  let code = "", message = "";
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not JSON */ }
  if (!message) message = res.status + " " + res.statusText;
  return new ApiError(res.status, code, message);
}

// listeners for "the session is gone" (401 on anything but sign-in)
const onUnauth = [];
export function onUnauthenticated(f) { onUnauth.push(f); }
// sessionEnded is for the change feed's "signed-out" event.
export function sessionEnded() {
  const err = new ApiError(401, "Unauthenticated", "Your session has ended.");
  onUnauth.forEach((f) => f(err));
}

export async function api(method, path, body, opts = {}) {
  const headers = {};
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    if (body.type) headers["Content-Type"] = body.type;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method, headers, body: payload, credentials: "same-origin",
    signal: opts.signal, cache: "no-store",
  });
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && !opts.quiet401) onUnauth.forEach((f) => f(err));
    throw err;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  return type.includes("json") ? res.json() : res;
}

export const enc = encodeURIComponent;
export const bucketPath = (b) => "/api/buckets/" + enc(b);
export const downloadURL = (b, key, preview) =>
  bucketPath(b) + "/download?key=" + enc(key) + (preview ? "&preview=1" : "");

// xhrPut sends a body with upload progress events (fetch has none); it
// resolves with the parsed JSON reply.
export function xhrPut(path, blob, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", path);
    x.setRequestHeader("X-CSRF-Token", csrf);
    if (blob.type) x.setRequestHeader("Content-Type", blob.type);
    x.responseType = "text";
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => {
      let body = null;
      try { body = x.responseText ? JSON.parse(x.responseText) : null; } catch { /* keep null */ }
      if (x.status >= 200 && x.status < 300) return resolve(body || {});
      const e = body && body.error ? body.error : {};
      const err = new ApiError(x.status, e.code, e.message || x.status + " " + x.statusText);
      if (x.status === 401) onUnauth.forEach((f) => f(err));
      reject(err);
    };
    x.onerror = () => reject(new ApiError(0, "NetworkError", "The upload was interrupted (network error)."));
    x.onabort = () => reject(new ApiError(0, "Aborted", "Cancelled."));
    if (signal) {
      if (signal.aborted) return x.onabort();
      signal.addEventListener("abort", () => x.abort(), { once: true });
    }
    x.send(blob);
  });
}
