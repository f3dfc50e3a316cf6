// Devices: every signed-in desktop (and admin browser); revoking one ends its token.
import { h, fill } from "./dom.js";
import { call, attempt } from "./api.js";
import { select, table, when } from "./widgets.js";

export async function renderDevices(root, agentId = "") {
  const [devices, agents] = await Promise.all([
    call("GET", "/devices" + (agentId ? `?agent_id=${encodeURIComponent(agentId)}` : "")), call("GET", "/agents")]);
  const filter = select([["", "Every agent"], ...agents.map((a) => [String(a.id), a.name])], agentId,
                        { "aria-label": "Agent", id: "device-agent" });
  filter.addEventListener("change", () => attempt(() => renderDevices(root, filter.value)));
  const rows = devices.map((d) => {
    const revoke = h("button", { type: "button", dataset: { action: "revoke" }, disabled: Boolean(d.revoked_at) }, "Revoke");
    revoke.addEventListener("click", async () => {
      if (!window.confirm(`Revoke ${d.name} of ${d.agent_name}? It is signed out at its next request.`)) return;
      if (await attempt(() => call("POST", `/devices/${d.id}/revoke`))) await renderDevices(root, filter.value);
    });
    return h("tr", { dataset: { device: d.id } }, h("td", d.agent_name), h("td", d.name), h("td", when(d.created_at)),
             h("td", when(d.last_seen_at)),
             h("td", { class: d.revoked_at ? "state-off" : "state-on" }, d.revoked_at ? `revoked ${when(d.revoked_at)}` : "active"),
             h("td.actions", revoke));
  });
  fill(root, h("h2", "Devices"), h("label", "Show ", filter),
       table(["Agent", "Device", "Signed in", "Last seen", "State", ""], rows, "Devices"));
}
