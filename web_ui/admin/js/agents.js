// Agents: add one (their one-time sign-in code is shown once), change a role, a new code.
import { h, fill } from "./dom.js";
import { call, attempt } from "./api.js";
import { table, when } from "./widgets.js";

function codeBox(agent, code) {
  return h("div.code-box", { id: "new-code", role: "status" },
    h("p", "One-time sign-in code for ", h("strong", agent.name), " (shown once, valid 24 h):"),
    h("code", { id: "new-code-value" }, code),
    h("p.hint", "Hand it to them; their desktop trades it for its own device token."));
}

export async function renderAgents(root, notice = null) {
  const agents = await call("GET", "/agents");
  const name = h("input", { name: "name", required: true, maxLength: 200 });
  const email = h("input", { name: "email", type: "email", required: true, maxLength: 320 });
  const extension = h("input", { name: "extension", maxLength: 50 });
  const admin = h("input", { type: "checkbox", name: "admin" });
  const form = h("form", { id: "add-agent", "aria-label": "Add an agent" },
    h("label", "Name", name), h("label", "E-mail", email), h("label", "Extension", extension),
    h("label.check", admin, "Administrator"), h("button.primary", { type: "submit" }, "Add agent"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const made = await attempt(() => call("POST", "/agents", {
      name: name.value, email: email.value, extension: extension.value || null, admin: admin.checked }));
    if (made) await renderAgents(root, codeBox(made.agent, made.code));
  });
  const rows = agents.map((a) => {
    const role = h("button", { type: "button", dataset: { action: "role" } },
                   a.role === "admin" ? "Make agent" : "Make admin");
    role.addEventListener("click", async () => {
      const done = await attempt(() => call("PATCH", `/agents/${a.id}`, { role: a.role === "admin" ? "agent" : "admin" }));
      if (done) await renderAgents(root);
    });
    const code = h("button", { type: "button", dataset: { action: "code" } }, "New code");
    code.addEventListener("click", async () => {
      const issued = await attempt(() => call("POST", `/agents/${a.id}/code`));
      if (issued) await renderAgents(root, codeBox(a, issued.code));
    });
    return h("tr", { dataset: { agent: a.id } }, h("td", a.name), h("td", a.email || ""), h("td", a.role),
             h("td", a.online ? "online" : a.last_seen_at ? `last seen ${when(a.last_seen_at)}` : "never seen"), h("td.actions", role, code));
  });
  fill(root, h("h2", "Agents"), notice, form,
       table(["Name", "E-mail", "Role", "Seen", ""], rows, "Agents"));
}
