// The chat window: boots from the session, routes #/conversation/ID, and applies the
// live event stream to the list and the open conversation.

import { api } from "./api.js";
import { $, $$ } from "./dom.js";
import { newConversationDialog } from "./dialogs.js";
import { ConnectionBanner } from "./connection.js";
import { EventStream } from "./events.js";
import { FILTERS, InboxList } from "./inbox.js";
import { ConversationView } from "./conversation.js";
import { Search } from "./search.js";
import { dndActive, dndEnds, saveSettings, settingsDialog } from "./settings.js";
import { helpOverlay, installShortcuts } from "./shortcuts.js";
import { agentName, on, queueById, set, startableChannels, state, syncClock } from "./state.js";
import { watchTasks } from "./tasks.js";
import { fail } from "./toast.js";

const ROUTE = /^#\/conversation\/(\d+)$/;

let inbox;
let conversation;
let search;
let connection;

async function boot() {
  let session;
  try {
    session = await api.session();
  } catch (err) {
    $("#boot-error").textContent = err.message;
    $("#boot-error").hidden = false;
    return;
  }
  state.me = session.agent;
  syncClock(session.now);
  set("settings", session.settings);
  inbox = new InboxList((id) => go(id));
  search = new Search((id) => go(id));
  conversation = new ConversationView({
    onChanged: (view) => inbox.upsert(view),
    onGone: (id) => {
      inbox.remove(id);
      if (state.openId === id || conversation.id === id) goInbox();
    },
  });
  wireChrome();
  connection = new ConnectionBanner();
  // Follow the log from the session's position first, so nothing committed while the
  // list loads is missed (replays are harmless: updates are idempotent).
  new EventStream(handleEvents, resync, (up) => ($("#offline").hidden = up)).start(session.last_seq);
  watchTasks($("#task-trouble"), api.tasks);
  connection.load().catch(fail);
  await loadDirectory();
  // No route at all (not even #/): reopen where the agent left off.
  if (!location.hash && session.settings.last_conversation_id) {
    history.replaceState(null, "", `#/conversation/${session.settings.last_conversation_id}`);
  }
  window.addEventListener("hashchange", route);
  route();
  await inbox.reload();
}

async function loadDirectory() {
  const [channels, agents, queues] = await Promise.all([api.channels(), api.agents(), api.queues()]).catch((err) => {
    fail(err);
    return [[], [], []];
  });
  set("channels", channels);
  set("agents", agents);
  set("queues", queues);
}

function go(id) {
  const hash = `#/conversation/${id}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function goInbox() {
  if (location.hash !== "#/") location.hash = "#/";
  else route();
}

async function route() {
  const m = location.hash.match(ROUTE);
  document.body.classList.toggle("show-conv", Boolean(m));
  if (!m) {
    conversation.close();
    inbox.select(null);
    return;
  }
  const id = Number(m[1]);
  // Compare with the conversation being opened, not the one shown: a quick j-j-k must
  // end on the last one asked for even while an earlier open is still loading.
  if (state.openId !== id) {
    inbox.select(id);
    const detail = await conversation.open(id);
    if (!detail) return;
    inbox.upsert(detail);
    inbox.select(id);
    if (detail.unread) api.action(id, "read").then((v) => inbox.upsert(v), fail);
    if (state.settings.last_conversation_id !== id) saveSettings({ last_conversation_id: id });
  }
}

/** Why a conversation left this agent's view, from the events that removed it. */
function whyGone(removed, batch) {
  const moved = batch.find((e) => e.type === "conversation.transferred" && e.conversation_id === removed.conversation_id);
  if (moved) {
    const to = moved.data.to_agent_id ? agentName(moved.data.to_agent_id)
      : queueById(moved.data.to_queue_id)?.name || "a queue";
    return `${agentName(moved.data.from_agent_id ?? moved.agent_id)} transferred it to ${to}.`;
  }
  if (removed.data.reason === "claimed" || removed.data.reason === "conversation.updated") {
    return `Taken over by ${agentName(removed.agent_id)}.`;
  }
  return "This conversation is no longer in your inbox.";
}

/** One batch of committed events: refetch what they touched, each thing once. */
async function handleEvents(batch) {
  // Left my view (a colleague took it over, transferred away): out of the list at once, and
  // the open one says so rather than vanishing.
  const removed = new Set();
  for (const ev of batch) {
    if (ev.type === "connection.updated") connection.apply(ev.data);
    if (ev.type !== "conversation.removed") continue;
    removed.add(ev.conversation_id);
    inbox.remove(ev.conversation_id);
    if (conversation.id !== ev.conversation_id) continue;
    // A conversation started offline, now the team server's: open that one in its place.
    if (ev.data.replaced_by) {
      go(ev.data.replaced_by);
      continue;
    }
    // My own transfer: back to the list as always; a colleague's doing: stay and say so.
    if (ev.agent_id === state.me.id) conversation.hooks.onGone(ev.conversation_id);
    else conversation.leave(whyGone(ev, batch));
  }
  batch = batch.filter((ev) => !removed.has(ev.conversation_id));
  const touched = new Set();
  const changedMessages = new Set();
  let newMessages = false;
  let inbound = false;
  const reload = new Set();
  const contacts = new Set();
  for (const ev of batch) {
    if (ev.conversation_id) touched.add(ev.conversation_id);
    if (ev.type === "contact.updated") contacts.add(ev.data.contact_id);
    if (ev.conversation_id === state.openId) {
      if (ev.type === "message.created") {
        newMessages = true;
        inbound ||= ev.data.direction === "in";
      } else if (ev.type === "message.updated") changedMessages.add(ev.message_id);
    }
    if (ev.type === "settings.updated") reload.add("settings");
    if (ev.type === "agent.updated") reload.add("agents");
    if (ev.type === "channel.updated") {
      reload.add("channels");
      // The open conversation's rules come from its channel (an administrator's
      // auto-closure, for one): show the new ones at once.
      if (state.openId && ev.data.channel_id === conversation.detail?.channel_id) touched.add(state.openId);
    }
  }
  const open = conversation.detail;
  const follow = [];
  // A contact saved on one conversation is the contact of every conversation with that
  // address (any channel): refetch those on screen too.
  if (contacts.size) {
    const addresses = new Set();
    await Promise.all([...touched].map((id) => api.conversation(id).then((d) => {
      if (contacts.has(d.contact_id)) addresses.add(d.customer_address);
    }, () => {})));
    for (const c of [...inbox.items, ...(open ? [open] : [])]) {
      if (addresses.has(c.customer_address) || contacts.has(c.contact_id)) touched.add(c.id);
    }
  }
  if (newMessages) follow.push(conversation.refreshMessages()); // alongside the list's fetches
  let related = false;
  await Promise.all([...touched].map(async (id) => {
    try {
      const detail = await api.conversation(id);
      inbox.upsert(detail);
      if (id === state.openId) conversation.apply(detail);
      // The customer wrote again after the open conversation closed: the new one's
      // messages belong to this history too.
      else if (open && detail.customer_address === open.customer_address && detail.channel_id === open.channel_id) {
        related = true;
      }
    } catch (err) {
      if (err.status === 404) conversation.id === id ? conversation.hooks.onGone(id) : inbox.remove(id);
    }
  }));
  if (related && !newMessages) follow.push(conversation.refreshMessages());
  for (const mid of changedMessages) follow.push(conversation.updateMessage(mid));
  if (inbound && document.visibilityState === "visible" && state.openId) {
    follow.push(api.action(state.openId, "read").then((v) => inbox.upsert(v), () => {}));
  }
  if (reload.has("settings")) follow.push(api.settings().then((s) => set("settings", s), fail));
  if (reload.has("agents")) follow.push(Promise.all([api.agents(), api.queues()]).then(([a, q]) => {
    set("agents", a);
    set("queues", q);
  }, fail));
  if (reload.has("channels")) follow.push(api.channels().then((c) => set("channels", c), fail));
  await Promise.all(follow);
}

/** The stream says we were away too long to replay: reload what is on screen. */
async function resync() {
  connection.load().catch(fail);
  await loadDirectory();
  set("settings", await api.settings());
  await inbox.reload();
  if (state.openId) {
    const id = state.openId;
    conversation.detail = null;
    await conversation.open(id);
  }
}

function wireChrome() {
  $("#back").addEventListener("click", goInbox);
  $("#open-settings").addEventListener("click", settingsDialog);
  $("#open-help").addEventListener("click", helpOverlay);
  $("#new-conv").addEventListener("click", startNew);
  on("channels", () => ($("#new-conv").hidden = startableChannels().length === 0));
  const showDnd = () => {
    $("#dnd-indicator").hidden = !dndActive();
    $("#dnd-ends").textContent = dndEnds();
  };
  on("settings", showDnd);
  setInterval(showDnd, 30000);
  installShortcuts({
    search: () => $("#search").focus(),
    next: () => step(1),
    prev: () => step(-1),
    reply: () => conversation.focusComposer(),
    claim: () => conversation.act("claim"),
    transfer: () => conversation.act("transfer"),
    archive: () => conversation.act("archive"),
    close: () => conversation.act("close"),
    unread: () => conversation.act("unread"),
    call: () => conversation.act("call"),
    contact: () => conversation.act("contact"),
    new: startNew,
    filter: (e) => inbox.setFilter(FILTERS[Number(e.key) - 1]),
    settings: settingsDialog,
    help: helpOverlay,
    escape: () => {
      if (search.active) search.clear();
      else if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
      else if (state.openId) goInbox();
    },
  });
  for (const b of $$("#filters [data-filter]")) b.setAttribute("aria-pressed", String(b.dataset.filter === "all"));
}

function step(delta) {
  // Step from the conversation last asked for (the hash changes at once, opening it takes
  // a moment), so quick j-j-k presses each count.
  const m = location.hash.match(ROUTE);
  const c = inbox.neighbour(delta, m ? Number(m[1]) : state.openId);
  if (c) go(c.id);
}

function startNew() {
  if (startableChannels().length === 0) return;
  newConversationDialog((conv) => {
    inbox.upsert(conv);
    go(conv.id);
  });
}

boot();
