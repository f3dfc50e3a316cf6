// The sandbox's customer phone: write to the business as an SMS or WhatsApp customer and
// watch replies arrive. Message text is untrusted: it is only ever set with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const HEADERS = { "X-Sandbox": "1" };
let shown = "";

function businessNumber(info) {
  if ($("channel").value === "sms") return Object.keys(info.sms_numbers)[0] || "";
  const first = Object.values(info.whatsapp_numbers)[0];
  return first ? first.number : "";
}

function bubble(m) {
  const li = document.createElement("li");
  li.className = m.from_customer ? "mine" : "theirs";
  const text = document.createElement("span");
  text.textContent = m.text;
  li.appendChild(text);
  for (const f of m.files || []) {
    if (!f.url) continue;
    if ((f.mime_type || "").startsWith("image/")) {
      const img = document.createElement("img");
      img.src = f.url;
      img.alt = f.name;
      li.appendChild(img);
    } else {
      const a = document.createElement("a");
      a.href = f.url;
      a.textContent = "📎 " + f.name;
      a.setAttribute("download", f.name);
      li.appendChild(document.createElement("br"));
      li.appendChild(a);
    }
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = new Date(m.at).toLocaleTimeString() + (m.from_customer ? "" : " · " + m.status);
  li.appendChild(meta);
  return li;
}

async function refresh() {
  const params = new URLSearchParams({ channel: $("channel").value, customer: $("customer").value });
  try {
    const [info, rows] = await Promise.all([
      fetch("/_sandbox/info").then((r) => r.json()),
      fetch("/_sandbox/customer/thread?" + params).then((r) => r.json()),
    ]);
    $("business").textContent = businessNumber(info);
    $("clock").textContent = new Date(info.now).toLocaleString();
    const key = JSON.stringify(rows.map((m) => [m.id, m.status]));
    if (key === shown) return;
    shown = key;
    const list = $("thread");
    list.replaceChildren(...rows.map(bubble));
    list.scrollTop = list.scrollHeight;
  } catch (err) {
    $("status").textContent = "The sandbox is not answering.";
  }
}

async function send(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("channel", $("channel").value);
  form.append("from", $("customer").value);
  form.append("name", $("name").value);
  form.append("text", $("text").value);
  if ($("file").files[0]) form.append("file", $("file").files[0]);
  $("status").textContent = "";
  const r = await fetch("/_sandbox/customer/send", { method: "POST", headers: HEADERS, body: form });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    $("status").textContent = body.message || "Not sent.";
    return;
  }
  const failed = (body.deliveries || []).filter((d) => !d.status || d.status >= 300);
  if (body.webhook !== "sent") $("status").textContent = "No agent is connected to this number yet.";
  else if (failed.length) $("status").textContent = "The agent did not accept it (" + (failed[0].status || failed[0].error) + ").";
  $("text").value = "";
  $("file").value = "";
  shown = "";
  refresh();
}

async function control(path, init, done) {
  const r = await fetch(path, { method: "POST", ...init, headers: { ...HEADERS, ...(init.headers || {}) } });
  $("status").textContent = r.ok ? done : "The sandbox refused that.";
  refresh();
}

// "Fail the next send": the provider refuses the agent's next message on the chosen
// channel with a permanent error, so the failure and its Retry show in the window.
const SEND_PATHS = { sms: ["twilio", "/Messages.json"], whatsapp: ["meta", "/messages"] };

function failNext() {
  const [provider, path] = SEND_PATHS[$("channel").value];
  control("/_sandbox/faults", {
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ provider, kind: "error", status: 400, method: "POST", path }),
  }, "The agent's next " + $("channel").selectedOptions[0].textContent + " message will fail.");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("[data-advance]")) {
    b.addEventListener("click", () => control("/_sandbox/clock/advance?seconds=" + b.dataset.advance, {},
      "Provider time moved " + b.textContent + "."));
  }
  $("fail-next").addEventListener("click", failNext);
  $("composer").addEventListener("submit", send);
  $("channel").addEventListener("change", () => { shown = ""; refresh(); });
  $("customer").addEventListener("change", () => { shown = ""; refresh(); });
  refresh();
  setInterval(refresh, 1000);
});
