// The audit log: every administrative action, newest first, filtered by time, agent, action.
import { h, fill } from "./dom.js";
import { call, attempt } from "./api.js";
import { select, table, when } from "./widgets.js";

const ACTIONS = [["", "Every action"], ["agent.", "Agents"], ["code.", "Sign-in codes"], ["device.", "Devices"],
                 ["queue.", "Queues"], ["channel.", "Channels"], ["conversation.", "Conversations"]];

export async function renderAudit(root, filters = {}) {
  const params = new URLSearchParams();
  for (const k of ["since", "until", "agent_id", "action"]) if (filters[k]) params.set(k, filters[k]);
  const [rows, agents] = await Promise.all([call("GET", `/audit?${params}`), call("GET", "/agents")]);
  const since = h("input", { type: "datetime-local", name: "since", value: filters.sinceLocal || "" });
  const until = h("input", { type: "datetime-local", name: "until", value: filters.untilLocal || "" });
  const agent = select([["", "Anyone"], ...agents.map((a) => [String(a.id), a.name])], filters.agent_id || "",
                       { name: "agent_id" });
  const action = select(ACTIONS, filters.action || "", { name: "action" });
  const form = h("form", { id: "audit-filters", "aria-label": "Filter the audit log" },
    h("label", "From", since), h("label", "Until", until), h("label", "Done by", agent), h("label", "Action", action),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const iso = (v) => (v ? new Date(v).toISOString() : "");
    attempt(() => renderAudit(root, { since: iso(since.value), until: iso(until.value), agent_id: agent.value,
                                      action: action.value, sinceLocal: since.value, untilLocal: until.value }));
  });
  const lines = rows.map((r) => h("tr", { dataset: { audit: r.id } }, h("td", when(r.at)), h("td", r.actor),
    h("td", r.action), h("td", r.target), h("td.detail", Object.keys(r.detail).length ? JSON.stringify(r.detail) : "")));
  fill(root, h("h2", "Audit log"), form, lines.length ? table(["When", "Who", "Action", "Target", "Detail"], lines, "Audit log")
                                             : h("p.empty", "No entries match."));
}
