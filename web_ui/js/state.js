// What the whole window shares: the session, the directory (channels, colleagues,
// queues), settings, and the server's clock. Modules subscribe to named changes.

const listeners = new Map();

export const state = {
  me: null, // AgentView
  settings: null,
  channels: [],
  agents: [],
  queues: [],
  clockOffset: 0, // server time minus local time, ms
  openId: null, // the conversation on screen
};

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) fn(detail);
}

export function set(key, value) {
  state[key] = value;
  emit(key, value);
}

export function serverNow() {
  return Date.now() + state.clockOffset;
}

export function syncClock(iso) {
  if (iso) state.clockOffset = Date.parse(iso) - Date.now();
}

export const channelById = (id) => state.channels.find((c) => c.id === id);

/** Channels on which the agent may open a conversation from the business number. */
export const startableChannels = () =>
  state.channels.filter((c) => c.enabled && c.available && c.rules.business_can_start);
