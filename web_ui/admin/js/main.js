// The admin view: sign in (a code or a token becomes this browser's session), then one tab
// per thing an administrator manages. Every text from the server is put in as text.
import { $, $$, show } from "./dom.js";
import { call, attempt, report, setCsrf } from "./api.js";
import { renderAgents } from "./agents.js";
import { renderQueues } from "./queues.js";
import { renderChannels } from "./channels.js";
import { renderDevices } from "./devices.js";
import { renderAudit } from "./audit.js";

const TABS = { agents: renderAgents, queues: renderQueues, channels: renderChannels,
               devices: renderDevices, audit: renderAudit };

function signedIn(session) {
  setCsrf(session.csrf);
  $("#whoami").textContent = `Signed in as ${session.agent.name}`;
  show($("#sign-in"), false);
  show($("#admin"), true);
  show($("#sign-out"), true);
  route();
}

function signedOut() {
  setCsrf("");
  $("#whoami").textContent = "";
  show($("#admin"), false);
  show($("#sign-out"), false);
  show($("#sign-in"), true);
  $("#sign-in-secret").focus();
}

async function route() {
  const name = TABS[location.hash.slice(1)] ? location.hash.slice(1) : "agents";
  for (const a of $$(".tabs a")) {
    if (a.dataset.tab === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const tab of Object.keys(TABS)) show($(`#tab-${tab}`), tab === name);
  await attempt(() => TABS[name]($(`#tab-${name}`)));
}

// A sign-in code is 20 letters and digits (dashes and spaces optional); anything else is a token.
function asBody(secret) {
  const compact = secret.replace(/[\s-]/g, "");
  return /^[0-9A-Za-z]{20}$/.test(compact) ? { code: secret } : { token: secret };
}

$("#sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#sign-in-secret");
  const session = await attempt(() => call("POST", "/session", asBody(input.value.trim())));
  input.value = "";
  if (session) signedIn(session);
});

$("#sign-out").addEventListener("click", async () => {
  await attempt(() => call("DELETE", "/session"));
  signedOut();
});

window.addEventListener("admin:signed-out", () => signedOut());
window.addEventListener("hashchange", () => { if (!$("#admin").hidden) route(); });

(async () => {
  try {
    signedIn(await call("GET", "/session"));
  } catch (err) {
    if (err.status !== 401 && err.status !== 404) report(err);
    signedOut();
  }
})();
