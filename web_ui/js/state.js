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

/** A colleague's presence: what the team server says, else what the local store knows. */
export function presenceOf(agent) {
  if (!agent) return "offline";
  if (agent.presence) return agent.presence;
  if (state.me && agent.id === state.me.id) return "available"; // a single desktop: I am here
  return agent.online ? "available" : "offline";
}

export const agentById = (id) => state.agents.find((a) => a.id === id);
export const agentName = (id, fallback = "A colleague") => agentById(id)?.name || fallback;
export const queueById = (id) => state.queues.find((q) => q.id === id);

/** Who else sees a conversation waiting in a queue: the queue's other members. */
export const alsoSeenBy = (queueId) => {
  const q = queueById(queueId);
  return q ? q.member_ids.filter((id) => !state.me || id !== state.me.id).map(agentById).filter(Boolean) : [];
};
