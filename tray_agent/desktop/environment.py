"""What this desktop offers the daemon, for ``tray-agent doctor``: a display, a session
bus, a tray host, a notification server, a GUI back-end for the window, an audio player.

``probe()`` never raises and imports no GUI toolkit: it asks D-Bus and X11 directly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from typing import Any

Check = dict[str, Any]


def _ok(ok: bool, detail: str) -> Check:
    return {"ok": ok, "detail": detail}


def private_session_bus() -> Any:
    """A session-bus connection of our own (GDBus), for the caller to close: closing it
    touches no one else's, and the bus dropping it never ends the process (the shared
    connection's exit-on-close would)."""
    from gi.repository import Gio

    address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SESSION, None)
    flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


def _ask_bus(bus: Any, method: str, *args: str) -> Any:
    from gi.repository import Gio, GLib

    params = GLib.Variant("(s)", args) if args else None
    return bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method, params,
                         None, Gio.DBusCallFlags.NONE, -1, None).unpack()[0]


def bus_owns(bus: Any, name: str, activatable: bool = False) -> bool:
    """Is ``name`` owned on ``bus`` (or, with ``activatable``, startable by it)?"""
    if _ask_bus(bus, "NameHasOwner", name):
        return True
    return activatable and name in _ask_bus(bus, "ListActivatableNames")


def _name_owned(name: str, activatable: bool = False) -> bool | None:
    """``bus_owns`` on a connection of its own; None when there is no bus to ask."""
    try:
        bus = private_session_bus()
    except Exception:
        return None
    try:
        return bus_owns(bus, name, activatable)
    finally:
        bus.close_sync(None)


def _xembed_tray() -> bool | None:
    display = os.environ.get("DISPLAY")
    if not display:
        return None
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
    except Exception:
        return None
    try:
        owner = d.get_selection_owner(d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}"))
        return bool(owner) and getattr(owner, "id", owner) != 0
    finally:
        d.close()


def _display() -> Check:
    if sys.platform in ("win32", "darwin"):
        return _ok(True, sys.platform)
    x, wl = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
    if not (x or wl):
        return _ok(False, "DISPLAY and WAYLAND_DISPLAY are unset: running headless (no tray icon, no window); "
                          "the web UI is at the address the daemon prints")
    return _ok(True, ", ".join(f"{k}={v}" for k, v in (("DISPLAY", x), ("WAYLAND_DISPLAY", wl)) if v))


def _session_bus() -> Check:
    if sys.platform in ("win32", "darwin"):
        return _ok(True, "not needed on this platform")
    if importlib.util.find_spec("gi") is None:
        return _ok(False, "PyGObject is not installed (pip install 'tray-agent[linux]'); "
                          "notifications fall back to notify-send and clicks cannot open a conversation")
    try:
        private_session_bus().close_sync(None)
    except Exception as exc:
        return _ok(False, f"no D-Bus session bus ({type(exc).__name__}); notifications will only be logged")
    return _ok(True, os.environ.get("DBUS_SESSION_BUS_ADDRESS", "autolaunched"))


def _tray_host() -> Check:
    if sys.platform == "win32":
        return _ok(True, "Windows notification area (pystray win32)")
    if sys.platform == "darwin":
        return _ok(True, "macOS menu bar (pystray darwin)")
    sni = _name_owned("org.kde.StatusNotifierWatcher")
    xembed = _xembed_tray()
    if sni:
        return _ok(True, "StatusNotifier host on the session bus (pystray appindicator back-end)")
    if xembed:
        return _ok(True, "XEmbed system tray (pystray gtk back-end; left click opens, right click shows the menu)")
    return _ok(False, "no tray host (no StatusNotifierWatcher on D-Bus, no XEmbed _NET_SYSTEM_TRAY owner): "
                      "the icon is invisible; run `tray-agent` again to open the window. On GNOME install "
                      "the AppIndicator extension")


def _notifications() -> Check:
    if sys.platform == "win32":
        return _ok(True, "plyer (balloon tip / toast)")
    if sys.platform == "darwin":
        return _ok(bool(shutil.which("osascript")) or importlib.util.find_spec("pyobjus") is not None,
                   "plyer (pyobjus) or osascript")
    owned = _name_owned("org.freedesktop.Notifications", activatable=True)
    if owned:
        return _ok(True, "org.freedesktop.Notifications is on the session bus (or starts on demand)")
    return _ok(False, "no notification server (org.freedesktop.Notifications) on the session bus: "
                      "notifications are written to the log instead (install dunst, or use a desktop that has one)")


def _window() -> Check:
    if importlib.util.find_spec("webview") is None:
        return _ok(False, "pywebview is not installed: the inbox opens in the default browser")
    if sys.platform == "win32":
        return _ok(True, "pywebview (EdgeChromium / WebView2)")
    if sys.platform == "darwin":
        return _ok(True, "pywebview (Cocoa / WKWebView)")
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        try:
            gi.require_version("WebKit2", "4.1")
        except ValueError:
            gi.require_version("WebKit2", "4.0")
    except (ImportError, ValueError) as exc:
        return _ok(False, f"pywebview's GTK back-end is missing ({exc}): install gir1.2-webkit2-4.1 and "
                          "PyGObject; until then the inbox opens in the default browser")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return _ok(False, "pywebview GTK + WebKit2GTK are installed, but there is no display: "
                          "open the address the daemon prints in a browser")
    return _ok(True, "pywebview GTK + WebKit2GTK (the window runs in its own process)")


def _audio() -> Check:
    from tray_agent.desktop.sound import find_player

    player = find_player()
    if player:
        return _ok(True, os.path.basename(player[0]))
    return _ok(False, "no audio player (pw-play, paplay, aplay, afplay): notifications stay silent")


def probe() -> dict[str, Check]:
    """name → {ok, detail}; what is missing says what the daemon does without it."""
    checks = {"display": _display, "session_bus": _session_bus, "tray_host": _tray_host,
              "notification_server": _notifications, "window_backend": _window, "audio_player": _audio}
    out: dict[str, Check] = {}
    for name, fn in checks.items():
        try:
            out[name] = fn()
        except Exception as exc:  # a probe must never take doctor down
            out[name] = _ok(False, f"could not check: {type(exc).__name__}: {exc}")
    return out
