// Queues: add one with members and a pickup mode; change either later, and the automatic
// assignment (capacity per member) and re-queue the console's `server queue set` sets.
import { h, fill } from "./dom.js";
import { call, attempt } from "./api.js";
import { memberPicker, select, table, PICKUP } from "./widgets.js";

export async function renderQueues(root) {
  const [queues, agents] = await Promise.all([call("GET", "/queues"), call("GET", "/agents")]);
  const name = h("input", { name: "name", required: true, maxLength: 100 });
  const pickup = select(PICKUP, "auto", { name: "pickup_mode" });
  const members = memberPicker(agents, [], "Members");
  const form = h("form", { id: "add-queue", "aria-label": "Add a queue" },
    h("label", "Name", name), h("label", "Pickup", pickup), h("fieldset", h("legend", "Members"), members),
    h("button.primary", { type: "submit" }, "Add queue"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const made = await attempt(() => call("POST", "/queues",
      { name: name.value, pickup_mode: pickup.value, member_ids: members.checked() }));
    if (made) await renderQueues(root);
  });
  const byId = new Map(agents.map((a) => [a.id, a.name]));
  const rows = queues.map((q) => {
    const mode = select(PICKUP, q.pickup_mode, { "aria-label": `Pickup of ${q.name}` });
    mode.addEventListener("change", async () => {
      if (!(await attempt(() => call("PATCH", `/queues/${q.id}`, { pickup_mode: mode.value })))) mode.value = q.pickup_mode;
    });
    const picker = memberPicker(agents, q.member_ids, `Members of ${q.name}`);
    const save = h("button", { type: "button", dataset: { action: "members" } }, "Save members");
    save.addEventListener("click", async () => {
      if (await attempt(() => call("PATCH", `/queues/${q.id}`, { member_ids: picker.checked() }))) await renderQueues(root);
    });
    return h("tr", { dataset: { queue: q.id } }, h("td", q.name), h("td", mode),
             h("td", h("p.hint", q.member_ids.map((id) => byId.get(id) || `#${id}`).join(", ") || "no members"), picker),
             h("td", assignment(q, root)), h("td.actions", save));
  });
  fill(root, h("h2", "Queues"), form, table(["Queue", "Pickup", "Members", "Assignment", ""], rows, "Queues"));
}

/** Auto-assign with its capacity, and re-queue: an empty number is "no limit" / "off". */
function assignment(q, root) {
  const auto = h("input", { type: "checkbox", name: "auto_assign", checked: q.auto_assign });
  const number = (name, value, label) => h("input", { type: "number", name, min: "1", step: "1", inputMode: "numeric",
                                                      value: value == null ? "" : String(value), placeholder: "off",
                                                      "aria-label": `${label} (${q.name})` });
  const capacity = number("capacity", q.capacity, "Capacity per member");
  const requeue = number("requeue_after_minutes", q.requeue_after_minutes, "Re-queue after minutes");
  const save = h("button", { type: "button", dataset: { action: "assignment" } }, "Save assignment");
  save.addEventListener("click", async () => {
    const count = (el) => (el.value.trim() === "" ? null : Number(el.value));
    const body = { auto_assign: auto.checked, capacity: count(capacity), requeue_after_minutes: count(requeue) };
    if (await attempt(() => call("PATCH", `/queues/${q.id}`, body))) await renderQueues(root);
  });
  return h("div.assignment", { role: "group", "aria-label": `Assignment of ${q.name}` },
    h("label.check", auto, "Auto-assign to the available member with the fewest open"),
    h("label", "Capacity per member", capacity), h("label", "Re-queue unanswered after (minutes)", requeue),
    h("p.policy", summary(q)), save);
}

function summary(q) {
  const assign = q.auto_assign ? `auto-assign${q.capacity ? `, up to ${q.capacity} open each` : ", no limit"}` : "no auto-assign";
  const back = q.requeue_after_minutes ? `re-queue after ${q.requeue_after_minutes} min` : "no re-queue";
  return `${assign}; ${back}`;
}
