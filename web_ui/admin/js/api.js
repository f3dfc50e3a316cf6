// The admin API under /sync/v1/admin: the session cookie rides along by itself; every
// change also carries the page's CSRF key, which a cookie alone cannot forge.
import { $, show } from "./dom.js";

const BASE = "/sync/v1/admin";
let csrf = "";

export function setCsrf(value) {
  csrf = value || "";
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Requests in flight: the page is aria-busy while any is (and a test waits for it to end).
let inFlight = 0;

function busy(delta) {
  inFlight += delta;
  if (inFlight > 0) document.body.setAttribute("aria-busy", "true");
  else document.body.removeAttribute("aria-busy");
}

export async function call(method, path, body) {
  busy(+1);
  try {
    return await request(method, path, body);
  } finally {
    busy(-1);
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let r;
  try {
    r = await fetch(BASE + path, { method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "offline", "The team server cannot be reached; check the connection and try again.");
  }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { /* not JSON: a proxy's page */ }
  // The session ended (signed out elsewhere, its device revoked): main.js shows the sign-in.
  if (r.status === 401 && path !== "/session") window.dispatchEvent(new Event("admin:signed-out"));
  if (!r.ok) {
    const message = (data && typeof data.message === "string" && data.message) || `The server answered ${r.status}.`;
    throw new ApiError(r.status, (data && data.error) || "error", message.split("\n")[0]);
  }
  return data;
}

/** One line of trouble in the banner (as text), or none. */
export function report(err) {
  const el = $("#error");
  el.textContent = err ? (err.message || String(err)) : "";
  show(el, Boolean(err));
}

/** Run a change; its error is reported, a success clears the banner. */
export async function attempt(fn) {
  try {
    const result = await fn();
    report(null);
    return result;
  } catch (err) {
    report(err);
    return undefined;
  }
}
