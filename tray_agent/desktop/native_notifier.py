"""The built-in notifier plugin: native notifications through plyer, registered through
the ``tray_agent`` entry-point group like any third party's notifier.

On Linux plyer's own back-end calls ``org.freedesktop.Notifications.Notify`` over D-Bus
but drops the id the server returns and any actions. We make that same call ourselves
over GDBus (PyGObject's Gio, loaded for the tray's GTK anyway), adding the ``default``
action (a click opens the conversation) and ``replaces_id`` (a burst's summary replaces
its first pop-up instead of stacking). Everywhere else — Windows (balloon/toast), macOS,
Linux without PyGObject (``notify-send``) — plyer's facade does the work; on macOS ``osascript`` is the fallback
when plyer's pyobjus back-end is missing. Importing this module imports none of them.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tray_agent.desktop.icon import asset
from tray_agent.desktop.sound import SoundPlayer
from tray_agent import hookimpl

log = logging.getLogger(__name__)

APP_NAME = "Tray Agent"
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
RECHECK_SECONDS = 30.0  # how long an availability answer is trusted
EXPIRE_MS = -1  # the server's default


def _escape(text: str) -> str:
    """Servers with the ``body-markup`` capability read the body as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _FreedesktopBus:
    """``org.freedesktop.Notifications`` over GDBus (PyGObject's Gio, which the tray has
    loaded already for GTK): ids, replacing, actions. A connection of our own: GTK and
    pystray share the session one, and a notification server's bus going away (or our own
    close) must not end the daemon."""

    def __init__(self, listen: bool) -> None:
        from gi.repository import Gio, GLib

        from tray_agent.desktop.environment import private_session_bus

        self._Gio, self._GLib = Gio, GLib
        self.bus = private_session_bus()
        self.listening = listen
        self._caps: set[str] | None = None
        self.on_action: Callable[[int, str], None] | None = None
        self._subscription = 0
        if listen:
            # Subscribed from a thread with no main context of its own: the signals arrive
            # through the default one, which the tray's GLib loop runs.
            self._subscription = self.bus.signal_subscribe(
                BUS_NAME, BUS_NAME, "ActionInvoked", OBJECT_PATH, None, Gio.DBusSignalFlags.NONE, self._signal)

    def _signal(self, _bus: Any, _sender: str, _path: str, _iface: str, _member: str, params: Any) -> None:
        nid, key = params.unpack()
        if self.on_action is not None:
            self.on_action(int(nid), str(key))

    def server_present(self) -> bool:
        """Running, or D-Bus can start it on the first call (an activatable service)."""
        from tray_agent.desktop.environment import bus_owns

        return bus_owns(self.bus, BUS_NAME, activatable=True)

    def _call(self, method: str, signature: str, *args: Any) -> Any:
        # One round trip, to the well-known name: no proxy, which would first ask the bus
        # for the name's owner and the server for its introspection data.
        params = self._GLib.Variant(f"({signature})", args) if signature else None
        return self.bus.call_sync(BUS_NAME, OBJECT_PATH, BUS_NAME, method, params, None,
                                  self._Gio.DBusCallFlags.NONE, -1, None).unpack()  # -1: GDBus's 25 s

    def capabilities(self) -> set[str]:
        if self._caps is None:
            self._caps = set(self._call("GetCapabilities", "")[0])
        return self._caps

    def notify(self, title: str, body: str, icon: str, replaces: int, actions: bool) -> int:
        caps = self.capabilities()
        if "body-markup" in caps:
            body = _escape(body)
        acts = ["default", "Open"] if actions and "actions" in caps else []
        v = self._GLib.Variant
        hints = {"category": v("s", "im.received"), "desktop-entry": v("s", "tray-agent")}
        return int(self._call("Notify", "susssasa{sv}i", APP_NAME, replaces, icon, title, body, acts, hints,
                              EXPIRE_MS)[0])

    def close_notification(self, nid: int) -> None:
        self._call("CloseNotification", "u", nid)

    def connected(self) -> bool:
        return not self.bus.is_closed()

    def forget_server(self) -> None:
        self._caps = None  # a restarted server may offer other capabilities

    def close(self) -> None:
        try:
            if self._subscription:
                self.bus.signal_unsubscribe(self._subscription)
                self._subscription = 0
            self.bus.close_sync(None)
        except Exception:
            pass


class DesktopNotifier:
    """A ``tray_agent.notifiers.Notifier`` with two extras the daemon uses when present:
    ``notify(..., replaces=id) -> id`` and ``on_activate(conversation_id | None)``."""

    name = "desktop"
    supports_replace = True

    def __init__(self) -> None:
        self.on_activate: Callable[[int | None], None] | None = None
        self.sound = SoundPlayer()
        self._bus: _FreedesktopBus | None = None
        self._mode: str | None = None  # "dbus" | "plyer" | "osascript" | "none"
        self._checked_at = -RECHECK_SECONDS
        self._available = False
        self._listen = False
        self._targets: OrderedDict[int, int | None] = OrderedDict()  # notification id -> conversation
        self._lock = threading.Lock()
        self._next_local_id = 1

    # -- set-up ---------------------------------------------------------------------------

    def listen_for_clicks(self) -> None:
        """Call before the first notification when a GLib main loop runs (the tray)."""
        self._listen = True

    def _pick(self) -> str:
        if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            try:
                from gi.repository import Gio  # noqa: F401
            except ImportError:
                return "plyer" if shutil.which("notify-send") else "none"
            return "dbus"
        if sys.platform == "darwin":
            if _plyer_backend_loads():  # plyer's macOS back-end needs pyobjus, rarely installed
                return "plyer"
            return "osascript" if shutil.which("osascript") else "none"
        return "plyer" if _plyer_backend_loads() else "none"

    def available(self) -> bool:
        """A notification server answers (Linux) or the platform has a back-end at all."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < RECHECK_SECONDS:
                return self._available
            self._checked_at = now
            if self._mode is None:
                self._mode = self._pick()
            if self._mode == "dbus":
                try:
                    if self._bus is None or not self._bus.connected():
                        # A dropped connection is left for the garbage collector, never
                        # closed here: its signal handling lives in the GUI thread.
                        self._bus = _FreedesktopBus(self._listen)
                        self._bus.on_action = self._action
                    self._available = self._bus.server_present()
                except Exception as exc:  # no session bus at all
                    log.debug("no D-Bus session bus: %s", exc)
                    self._available = False
            elif self._mode == "plyer" and sys.platform.startswith("linux"):
                self._available = _session_bus_address_set()
            else:
                self._available = self._mode != "none"
            return self._available

    def forget(self) -> None:
        """Look again at the next ``available()`` (after a failure)."""
        with self._lock:
            self._checked_at = -RECHECK_SECONDS
            if self._bus is not None:
                self._bus.forget_server()

    # -- notifying ------------------------------------------------------------------------

    def notify(self, title: str, body: str, *, sound: bool, conversation_id: int | None,
               replaces: int | None = None) -> int | None:
        """Show one notification (replacing ``replaces`` where the platform can); returns
        its id. Raises when it could not be shown."""
        icon = str(asset("icon.png"))
        if self._mode == "dbus":
            if self._bus is None:
                raise RuntimeError("no connection to the session bus")
            nid = self._bus.notify(title, body, icon, replaces or 0, actions=True)
        elif self._mode == "osascript":
            script = f"display notification {_applescript(body)} with title {_applescript(title)}"
            subprocess.run(["osascript", "-e", script], check=True, timeout=10,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            nid = self._local_id()
        else:
            from plyer import notification

            ico = str(asset("icon.ico" if sys.platform == "win32" else "icon.png"))
            notification.notify(title=title, message=body, app_name=APP_NAME, app_icon=ico, timeout=10)
            nid = self._local_id()
        with self._lock:
            self._targets[nid] = conversation_id
            while len(self._targets) > 200:
                self._targets.popitem(last=False)
        if sound:
            self.sound.play()
        return nid

    def _local_id(self) -> int:
        with self._lock:
            nid, self._next_local_id = self._next_local_id, self._next_local_id + 1
        return nid

    def _action(self, nid: int, key: str) -> None:
        with self._lock:
            if nid not in self._targets:
                return  # another application's notification
            conversation_id = self._targets[nid]
        log.info("notification %s clicked (%s): opening %s", nid, key,
                 f"conversation {conversation_id}" if conversation_id else "the inbox")
        # Off the GUI thread (where D-Bus signals arrive): the window opens, the pop-up goes.
        threading.Thread(target=self._activated, args=(nid, conversation_id), name="notification-click",
                         daemon=True).start()

    def _activated(self, nid: int, conversation_id: int | None) -> None:
        if self.on_activate is not None:
            self.on_activate(conversation_id)
        try:
            if self._bus is not None:
                self._bus.close_notification(nid)  # servers may keep a clicked pop-up up
        except Exception as exc:
            log.debug("could not close notification %s: %s", nid, exc)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()


def _plyer_backend_loads() -> bool:
    """Does plyer have a working notification back-end here (not just its empty facade)?"""
    import contextlib
    import io

    try:
        from plyer import notification
        from plyer.facades import Notification
    except ImportError:
        return False
    with contextlib.redirect_stderr(io.StringIO()):  # plyer prints the import error itself
        impl = object.__getattribute__(notification, "_ensure_obj")()
    return type(impl) is not Notification


def _session_bus_address_set() -> bool:
    import os

    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@hookimpl
def register_notifiers(register: Callable[[Any], None]) -> None:
    register(DesktopNotifier())
