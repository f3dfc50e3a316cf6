// Modal dialogs: a generic panel, and the ones that ask something before acting:
// transfer, save as contact, start a conversation, call the customer.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { displayName, shortWhen } from "./format.js";
import { presenceOf, startableChannels, state } from "./state.js";
import { fail, toast } from "./toast.js";

let current = null;

/** Show a dialog; ``onSubmit`` returns true (or a promise of it) to close. */
export function openDialog({ id, title, body, submit, onSubmit }) {
  closeDialog();
  const form = h("form.dialog", { id, role: "dialog", "aria-modal": "true", "aria-label": title, method: "dialog" },
    h("header.dialog-head", h("h2", title),
      h("button.icon-btn", { type: "button", title: "Close (Esc)", "aria-label": "Close", onclick: closeDialog }, "✕")),
    h("div.dialog-body", body),
    submit ? h("footer.dialog-foot",
      h("button", { type: "button", onclick: closeDialog }, "Cancel"),
      h("button.primary", { type: "submit" }, submit)) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      if (await onSubmit(form)) closeDialog();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  });
  const overlay = $("#overlay");
  overlay.replaceChildren(form);
  overlay.hidden = false;
  current = { form, returnFocus: document.activeElement };
  (form.querySelector("[autofocus]") || form.querySelector("input, textarea, select, button.primary"))?.focus();
  return form;
}

export function closeDialog() {
  if (!current) return false;
  const { returnFocus } = current;
  current = null;
  $("#overlay").hidden = true;
  $("#overlay").replaceChildren();
  if (returnFocus && returnFocus.focus) returnFocus.focus();
  return true;
}

export const dialogOpen = () => current !== null;

const radio = (name, value, label, extra = null, checked = false) =>
  h("label.choice", h("input", { type: "radio", name, value, checked }), h("span.choice-label", label), extra);

const PRESENCE_ORDER = { available: 0, away: 1, busy: 2, offline: 3 };
const PRESENCE_WORD = { available: "available", away: "away", busy: "busy", offline: "offline" };

/** A colleague's line in the picker: the presence dot and word, the open load, and for one
 * who is offline that the transfer still works (they see it when back). */
function colleagueChoice(a) {
  const p = presenceOf(a);
  const seen = p === "offline" && a.last_seen_at ? `last seen ${shortWhen(a.last_seen_at)}` : "";
  return radio("target", `agent:${a.id}`, h("bdi", a.name),
    [h(`span.presence.presence-${cssWord(p)}${p === "offline" ? "" : ".online"}`, { title: seen || null },
      p === "offline" ? "offline" : `● ${PRESENCE_WORD[p] || p}`),
    typeof a.open_count === "number" ? h("span.load", `${a.open_count} open`) : null,
    p === "offline" ? h("span.presence-note", "— they'll see it when back") : null]);
}

const cssWord = (s) => String(s).replace(/[^a-z0-9_-]/gi, "_");

/** Hand the conversation to a colleague (with their presence and load) or a queue, with a note. */
export function transferDialog(conv, done) {
  const colleagues = state.agents.filter((a) => a.id !== state.me.id)
    .sort((a, b) => (PRESENCE_ORDER[presenceOf(a)] ?? 9) - (PRESENCE_ORDER[presenceOf(b)] ?? 9)
      || (a.open_count ?? 0) - (b.open_count ?? 0) || a.name.localeCompare(b.name));
  const queueLine = (q) => {
    const members = q.member_ids.map((id) => state.agents.find((a) => a.id === id)).filter(Boolean);
    const here = members.filter((a) => presenceOf(a) === "available").length;
    return h("span.presence", `${q.member_ids.length} member${q.member_ids.length === 1 ? "" : "s"}`
      + (members.length ? `, ${here} available` : ""));
  };
  const body = [
    h("fieldset", h("legend", "Colleague"),
      colleagues.length ? colleagues.map(colleagueChoice) : h("p.empty", "No colleagues yet.")),
    h("fieldset", h("legend", "Queue"),
      state.queues.length ? state.queues.map((q) => radio("target", `queue:${q.id}`, h("bdi", q.name), queueLine(q)))
        : h("p.empty", "No queues.")),
    h("label.field", "Note for the new owner (optional)",
      h("textarea", { name: "note", rows: 2, maxLength: 2000, placeholder: "What they should know" })),
  ];
  openDialog({ id: "transfer-dialog", title: `Transfer ${displayName(conv)}`, body, submit: "Transfer",
    onSubmit: async (form) => {
      const choice = form.elements.target && form.elements.target.value;
      if (!choice) {
        toast("Pick a colleague or a queue.", "error");
        return false;
      }
      const [kind, id] = choice.split(":");
      const note = form.elements.note.value;
      const result = await api.transfer(conv.id, kind === "agent" ? { to_agent_id: Number(id), note } : { to_queue_id: Number(id), note });
      const target = kind === "agent" ? state.agents.find((a) => a.id === Number(id)) : null;
      const away = target && presenceOf(target) === "offline" ? " They are offline; they'll see it when back." : "";
      toast(`Transferred to ${target ? target.name : state.queues.find((q) => q.id === Number(id))?.name}.${away}`);
      done(result);
      return true;
    } });
}

/** Save the customer as a new contact, or add the number to an existing one. */
export function contactDialog(conv, done) {
  const results = h("div.contact-results");
  const search = h("input", { type: "search", name: "q", placeholder: "Find a contact by name", autocomplete: "off" });
  let seq = 0;
  const find = async () => {
    const mine = ++seq;
    const found = await api.contacts(search.value).catch(fail);
    if (mine !== seq || !found) return;
    results.replaceChildren(...(found.length ? found.map((c) => radio("contact", String(c.id), h("bdi", c.display_name),
      h("span.presence", c.points.map((p) => p.address).join(", ")))) : [h("p.empty", "No contacts found.")]));
  };
  search.addEventListener("input", find);
  const body = [
    h("p.hint", "Customer: ", h("bdi", conv.customer_display)),
    h("fieldset", h("legend", "Save as"),
      radio("mode", "new", "A new contact", null, true),
      h("label.field", "Name", h("input", { name: "name", value: conv.customer_name || "", maxLength: 200, autofocus: true })),
      radio("mode", "existing", "Add to an existing contact"),
      search, results),
  ];
  const dialog = openDialog({ id: "contact-dialog", title: "Save contact", body, submit: "Save",
    onSubmit: async (form) => {
      let payload;
      if (form.elements.mode.value === "existing") {
        const picked = form.elements.contact && form.elements.contact.value;
        if (!picked) {
          toast("Pick the contact to add this number to.", "error");
          return false;
        }
        payload = { contact_id: Number(picked) };
      } else {
        payload = { name: form.elements.name.value.trim() || null };
      }
      const contact = await api.saveContact(conv.id, payload);
      toast(`Saved as ${contact.display_name}.`);
      done(contact);
      return true;
    } });
  search.addEventListener("focus", () => (dialog.elements.mode.value = "existing"));
  find();
}

/** Confirm a call: the number and the handler that will dial it (and, when it cannot, why). */
export function callDialog(conv, plan, dial) {
  const body = [
    h("p.call-number", "Call ", h("bdi", displayName(conv)), " on ", h("strong", h("bdi", plan.number)), "?"),
    h("p.hint.call-handler", `Through ${plan.label}`),
    plan.available ? null : h("p.call-warning", { role: "note" }, `This call will probably fail: ${plan.detail}`),
  ];
  openDialog({ id: "call-dialog", title: "Call the customer", body, submit: "Call",
    onSubmit: (form) => {
      // A PBX takes a few seconds to say whether the call went through.
      $("button[type=submit]", form).textContent = "Calling…";
      return dial();
    } });
}

/** Start a conversation, only on channels whose rules let the business begin one. */
export function newConversationDialog(done) {
  const channels = startableChannels();
  if (!channels.length) {
    openDialog({ id: "new-dialog", title: "New conversation",
      body: h("p.empty", "None of your channels lets the business start a conversation; customers start them (WhatsApp, for one, allows replies only).") });
    return;
  }
  const from = h("p.hint.from");
  const select = h("select", { name: "channel" }, channels.map((c) => h("option", { value: String(c.id) }, `${c.name} (${c.label})`)));
  const showFrom = () => {
    const c = channels.find((x) => x.id === Number(select.value));
    from.textContent = `From the business number ${c.business_address}`;
  };
  select.addEventListener("change", showFrom);
  const body = [
    h("label.field", "Channel", select), from,
    h("label.field", "To", h("input", { name: "to", type: "tel", required: true, placeholder: "+1 415 555 0100", autocomplete: "off", autofocus: true })),
    h("label.field", "Message", h("textarea", { name: "text", rows: 3, required: true })),
  ];
  openDialog({ id: "new-dialog", title: "New conversation", body, submit: "Send",
    onSubmit: async (form) => {
      const r = await api.start(Number(form.elements.channel.value), form.elements.to.value, form.elements.text.value, []);
      done(r.conversation);
      return true;
    } });
  showFrom();
}
