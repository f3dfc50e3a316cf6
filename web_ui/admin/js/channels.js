// Channels: add one (its credentials go to the server's keyring, or are read from an
// environment variable the view names; never shown back), enable or disable it, route it
// to a queue or an agent, and set its auto-closure where the channel's rules allow it.
import { h, fill } from "./dom.js";
import { ApiError, call, attempt } from "./api.js";
import { select, table } from "./widgets.js";

/** The variable the server reads a credential from (credentials.env_name's twin). */
export function envName(channel, key) {
  return "TRAY_AGENT_SECRET_" + `${channel}_${key}`.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}

const SOURCES = [["keyring", "Store in the server's keyring"], ["environment", "Read from the environment"]];

/** A credential's inputs: where it comes from, and the value when it goes to the keyring. */
function credentialInput(key, description, channelName) {
  const source = select(SOURCES, "keyring", { "aria-label": `${key}: where from`, dataset: { secret: key } });
  const value = h("input", { type: "password", autocomplete: "new-password", "aria-label": `${key} value`,
                             placeholder: description });
  const hint = h("span.hint");
  const sync = () => {
    value.hidden = source.value !== "keyring";
    hint.textContent = source.value === "environment" ? `set ${envName(channelName(), key)} on every replica` : "";
  };
  source.addEventListener("change", sync);
  sync();
  return { key, el: h("label", key, source, value, hint), sync,
           // Left empty: not given (an optional one stays unset; a required one is asked for).
           read: () => (source.value === "environment" ? { source: "environment" }
                        : value.value ? { source: "keyring", value: value.value } : null) };
}

function given(inputs) {
  return Object.fromEntries(inputs.map((i) => [i.key, i.read()]).filter(([, v]) => v !== null));
}

function routeOptions(queues, agents) {
  return [["", "Everyone (no routing)"], ...queues.map((q) => [`queue:${q.id}`, `Queue ${q.name}`]),
          ...agents.map((a) => [`agent:${a.id}`, `Agent ${a.name}`])];
}

function routeBody(value) {
  const [what, id] = value.split(":");
  return { route_queue_id: what === "queue" ? Number(id) : null, route_agent_id: what === "agent" ? Number(id) : null };
}

function addForm(root, types, queues, agents) {
  const kind = select(types.map((t) => [t.kind, t.label]), types[0]?.kind, { name: "kind" });
  const name = h("input", { name: "name", required: true, maxLength: 100 });
  const address = h("input", { name: "business_address", required: true, maxLength: 200 });
  const route = select(routeOptions(queues, agents), "", { name: "route" });
  const extra = h("div.members");
  let inputs = [];
  let settings = [];
  const build = () => {
    const t = types.find((x) => x.kind === kind.value);
    if (!t) return fill(extra);
    settings = Object.entries(t.settings).filter(([k]) => k !== t.business_address_setting)
      .map(([k, d]) => ({ key: k, input: h("input", { "aria-label": k, placeholder: d, dataset: { setting: k } }) }));
    inputs = Object.entries(t.secrets).map(([k, d]) => credentialInput(k, d, () => name.value));
    fill(extra, settings.map((s) => h("label", s.key, s.input)), inputs.map((i) => i.el));
  };
  kind.addEventListener("change", build);
  name.addEventListener("input", () => inputs.forEach((i) => i.sync()));
  build();
  const form = h("form", { id: "add-channel", "aria-label": "Add a channel" },
    h("label", "Kind", kind), h("label", "Name", name), h("label", "Business address", address),
    h("label", "New conversations go to", route), extra, h("button.primary", { type: "submit" }, "Add channel"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { kind: kind.value, name: name.value, business_address: address.value, ...routeBody(route.value),
                   settings: Object.fromEntries(settings.filter((s) => s.input.value).map((s) => [s.key, s.input.value])),
                   credentials: given(inputs) };
    if (await attempt(() => call("POST", "/channels", body))) await renderChannels(root);
  });
  return form;
}

function channelRow(root, ch, queues, agents) {
  const patch = (body) => attempt(async () => { await call("PATCH", `/channels/${ch.id}`, body); await renderChannels(root); });
  const toggle = h("button", { type: "button", dataset: { action: "enable" } }, ch.enabled ? "Disable" : "Enable");
  toggle.addEventListener("click", () => patch({ enabled: !ch.enabled }));
  const current = ch.route_queue_id ? `queue:${ch.route_queue_id}` : ch.route_agent_id ? `agent:${ch.route_agent_id}` : "";
  const route = select(routeOptions(queues, agents), current, { "aria-label": `Routing of ${ch.name}` });
  route.addEventListener("change", () => patch(routeBody(route.value)));
  let closure;
  if (ch.rules.auto_close_configurable) {
    const minutes = h("input", { type: "number", min: 1, step: 1, "aria-label": `Auto-close minutes of ${ch.name}`,
                                 value: ch.auto_close_seconds ? String(Math.round(ch.auto_close_seconds / 60)) : "" });
    const set = h("button", { type: "button", dataset: { action: "auto-close" } }, "Set");
    set.addEventListener("click", () => patch({ auto_close_seconds: minutes.value ? Number(minutes.value) * 60 : null }));
    closure = h("span", minutes, " min ", set, h("p.hint", "empty: never"));
  } else {
    closure = h("span.hint", "by the channel's own rule");
  }
  const creds = h("ul.creds", ch.credentials.map((c) => h("li", `${c.name}: `,
    h("span", { class: `src-${c.source}` }, c.source === "environment" ? `from ${c.env}` : c.source),
    c.source === "missing" ? h("span.hint", ` (${c.optional ? "optional; " : ""}store one, or set ${c.env})`) : null)));
  if (ch.credentials.length) {
    const inputs = ch.credentials.map((c) => credentialInput(c.name, c.description, () => ch.name));
    const save = h("button", { type: "button", dataset: { action: "credentials" } }, "Replace credentials");
    save.addEventListener("click", () => patch({ credentials: given(inputs) }));
    creds.append(h("details", h("summary", "Change"), inputs.map((i) => i.el), save));
  }
  return h("tr", { dataset: { channel: ch.id } }, h("td", ch.name, h("p.hint", `${ch.label} ${ch.business_address}`)),
    h("td", { class: ch.enabled ? "state-on" : "state-off" }, ch.enabled ? "enabled" : "disabled"),
    h("td", route), h("td", closure), h("td", creds), h("td.actions", toggle, removeButton(root, ch)));
}

/** Remove, as `server channel remove`: asked first; open conversations ask once more (force). */
function removeButton(root, ch) {
  const button = h("button", { type: "button", dataset: { action: "remove" } }, "Remove");
  button.addEventListener("click", async () => {
    if (!window.confirm(`Remove ${ch.name}? A channel with conversations is kept disabled, so they stay readable; ` +
                        "its credentials are deleted from the server.")) return;
    const done = await attempt(async () => {
      try {
        return await call("DELETE", `/channels/${ch.id}`);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 409 || !window.confirm(`${err.message} Stop it anyway?`)) throw err;
        return call("DELETE", `/channels/${ch.id}?force=true`);
      }
    });
    if (done) await renderChannels(root);
  });
  return button;
}

export async function renderChannels(root) {
  const [types, channels, queues, agents] = await Promise.all(
    ["/channel-types", "/channels", "/queues", "/agents"].map((p) => call("GET", p)));
  fill(root, h("h2", "Channels"), addForm(root, types, queues, agents),
       table(["Channel", "State", "Routing", "Auto-close", "Credentials", ""],
             channels.map((ch) => channelRow(root, ch, queues, agents)), "Channels"));
}
