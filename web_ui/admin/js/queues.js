// Queues: add one with members and a pickup mode; change either later.
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
             h("td.actions", save));
  });
  fill(root, h("h2", "Queues"), form, table(["Queue", "Pickup", "Members", ""], rows, "Queues"));
}
