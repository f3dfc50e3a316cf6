// The agent's settings: notification pop-ups, sound, and do-not-disturb (now, for an
// hour, or on a schedule). Each change is saved at once.

import { api } from "./api.js";
import { h } from "./dom.js";
import { dayTime } from "./format.js";
import { openDialog } from "./dialogs.js";
import { serverNow, set, state } from "./state.js";
import { fail, toast } from "./toast.js";

const HOUR = 3600 * 1000;
/** The pop-ups that can be switched one by one (the settings' ``notify``). */
const NOTIFY_KINDS = {
  new_conversation: "New conversations offered to me or my queues",
  message: "New messages in my conversations",
  transferred: "Conversations transferred to me",
  failed: "Replies that could not be sent",
};

export async function saveSettings(patch) {
  try {
    set("settings", await api.patchSettings(patch));
    return true;
  } catch (err) {
    fail(err);
    return false;
  }
}

/** Is do-not-disturb in force right now (on, until a time, or by the schedule)? */
export function dndActive(s = state.settings, now = new Date(serverNow())) {
  if (!s) return false;
  if (s.dnd) return true;
  if (s.dnd_until && Date.parse(s.dnd_until) > now.getTime()) return true;
  const sched = s.dnd_schedule || {};
  if (!sched.enabled || !sched.start || !sched.end) return false;
  const minutes = now.getHours() * 60 + now.getMinutes();
  const [sh, sm] = sched.start.split(":").map(Number);
  const [eh, em] = sched.end.split(":").map(Number);
  const a = sh * 60 + sm;
  const b = eh * 60 + em;
  return a <= b ? minutes >= a && minutes < b : minutes >= a || minutes < b; // spans midnight
}

/** How long do-not-disturb lasts, for the window's header: "until 10:00", "until tomorrow 08:00". */
export function dndEnds(s = state.settings) {
  if (!s || s.dnd) return "";
  if (s.dnd_until && Date.parse(s.dnd_until) > serverNow()) return `until ${dayTime(s.dnd_until)}`;
  return s.dnd_schedule && s.dnd_schedule.enabled ? `until ${s.dnd_schedule.end}` : "";
}

export function settingsDialog() {
  const s = state.settings;
  const check = (name, label, checked, onchange) => h("label.toggle",
    h("input", { type: "checkbox", name, checked, onchange }), h("span", label));
  const until = h("span.dnd-until");
  const showUntil = () => {
    const t = state.settings.dnd_until;
    until.textContent = t && Date.parse(t) > serverNow() ? `Quiet until ${dayTime(t)}` : "";
  };
  const schedule = () => {
    const form = document.querySelector("#settings-dialog");
    return { enabled: form.elements.sched_on.checked, start: form.elements.sched_start.value || "22:00",
      end: form.elements.sched_end.value || "08:00" };
  };
  const body = [
    h("fieldset", h("legend", "Notifications"),
      check("popup", "Show a pop-up for each new message", s.popup, (e) => saveSettings({ popup: e.target.checked })),
      check("sound", "Play a sound", s.sound, (e) => saveSettings({ sound: e.target.checked })),
      Object.entries(NOTIFY_KINDS).map(([kind, label]) => check(`notify_${kind}`, label,
        !s.notify || s.notify[kind] !== false, (e) => saveSettings({ notify: { [kind]: e.target.checked } })))),
    h("fieldset", h("legend", "Do not disturb"),
      check("dnd", "On now, until I turn it off", s.dnd, (e) => saveSettings({ dnd: e.target.checked })),
      h("div.row-buttons",
        h("button", { type: "button", id: "dnd-hour", onclick: async () => {
          if (await saveSettings({ dnd_until: new Date(serverNow() + HOUR).toISOString() })) {
            showUntil();
            toast(`Do not disturb ${dndEnds()}.`);
          }
        } }, "For 1 hour"),
        h("button", { type: "button", id: "dnd-end", onclick: async () => {
          if (await saveSettings({ dnd: false, dnd_until: null })) {
            document.querySelector("#settings-dialog").elements.dnd.checked = false;
            showUntil();
          }
        } }, "End now"),
        until),
      check("sched_on", "On a schedule, every day", s.dnd_schedule.enabled,
        () => saveSettings({ dnd_schedule: schedule() })),
      h("div.schedule",
        h("label", "from ", h("input", { type: "time", name: "sched_start", value: s.dnd_schedule.start,
          onchange: () => saveSettings({ dnd_schedule: schedule() }) })),
        h("label", " to ", h("input", { type: "time", name: "sched_end", value: s.dnd_schedule.end,
          onchange: () => saveSettings({ dnd_schedule: schedule() }) })))),
    h("p.hint", "Light and dark follow your system's appearance."),
  ];
  openDialog({ id: "settings-dialog", title: "Settings", body });
  showUntil();
}
