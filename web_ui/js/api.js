// The local API: JSON over fetch with the HttpOnly token cookie (same origin), and
// uploads over XHR for their progress events. Errors carry the server's one line.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The agent answered ${status}.`);
    this.status = status;
    this.code = body && body.error;
    this.body = body || {};
  }
}

async function call(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { message: "The agent is not reachable; is Tray Agent running?" });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
};

const conv = (id, what = "") => `/api/conversations/${encodeURIComponent(id)}${what}`;

export const api = {
  session: () => call("GET", "/api/session"),
  inbox: (filter, { channelId, cursor, limit = 100 } = {}) =>
    call("GET", `/api/inbox${qs({ filter, channel_id: channelId, cursor, limit })}`),
  conversation: (id) => call("GET", conv(id)),
  history: (id, { before, limit = 60 } = {}) => call("GET", conv(id, `/messages${qs({ before, limit })}`)),
  message: (id, messageId) => call("GET", conv(id, `/messages/${encodeURIComponent(messageId)}`)),
  search: (q, { before, limit = 50 } = {}) => call("GET", `/api/search${qs({ q, before, limit })}`),
  reply: (id, text, uploads) => call("POST", conv(id, "/messages"), { text, uploads }),
  start: (channelId, customerAddress, text, uploads) =>
    call("POST", "/api/conversations", { channel_id: channelId, customer_address: customerAddress, text, uploads }),
  action: (id, name) => call("POST", conv(id, `/${name}`)),
  transfer: (id, body) => call("POST", conv(id, "/transfer"), body),
  callPlan: (id) => call("GET", conv(id, "/call")),
  call: (id, handler) => call("POST", conv(id, "/call"), handler ? { handler } : {}),
  saveContact: (id, body) => call("POST", conv(id, "/contact"), body),
  retry: (messageId) => call("POST", `/api/messages/${encodeURIComponent(messageId)}/retry`),
  channels: () => call("GET", "/api/channels"),
  agents: () => call("GET", "/api/agents"),
  queues: () => call("GET", "/api/queues"),
  contacts: (q) => call("GET", `/api/contacts${qs({ q })}`),
  settings: () => call("GET", "/api/settings"),
  patchSettings: (patch) => call("PATCH", "/api/settings", patch),
  tasks: () => call("GET", "/api/tasks"),
  connection: () => call("GET", "/api/connection"),
};

export const attachmentUrl = (id, inline = false) => `/api/attachments/${id}${inline ? "?inline=true" : ""}`;
export const channelIconUrl = (channelId) => `/api/channels/${channelId}/icon.svg`;

/**
 * Upload one file as the raw request body, reporting progress(fraction).
 * ``target`` is {conversationId} or {channelId}. Resolves to the upload view.
 * Returns {promise, abort}.
 */
export function upload(file, target, progress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const q = target.conversationId ? { conversation_id: target.conversationId } : { channel_id: target.channelId };
    xhr.open("POST", `/api/uploads${qs(q)}`);
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: keep the status line */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, { message: `${file.name} could not be uploaded (connection lost).` }));
    xhr.onabort = () => reject(new ApiError(0, { message: "Upload cancelled.", error: "aborted" }));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
