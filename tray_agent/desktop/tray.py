"""The tray icon (pystray) and its menu. Runs the GUI loop in the main thread.

On Linux pystray needs GTK: the ``appindicator`` back-end when a StatusNotifier host is
on the session bus (KDE, GNOME with the AppIndicator extension, most Wayland panels), the
``gtk`` back-end (XEmbed) otherwise — there a left click opens the window and a right
click shows the menu. ``PYSTRAY_BACKEND`` overrides the choice. Nothing here is imported
until the daemon knows there is a display.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from tray_agent.desktop import icon as drawing
from tray_agent.desktop.launcher import DAEMON_ONLY_ENV
from tray_agent.desktop.state import TrayState

log = logging.getLogger(__name__)

NAME = "tray-agent"  # the icon's name, and its X11 WM_CLASS (what xdotool finds)
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
#: The pop-ups switchable one by one (settings ``notify``), as the menu names them.
NOTIFY_KINDS = (("new_conversation", "New conversations"), ("message", "New messages"),
                ("transferred", "Transferred to me"), ("failed", "Failed sends"))


class TrayActions(Protocol):
    def open_window(self, conversation_id: int | None = None) -> str: ...
    def set_dnd(self, on: bool) -> None: ...
    def dnd_for(self, minutes: int) -> None: ...
    def set_popup(self, on: bool) -> None: ...
    def set_sound(self, on: bool) -> None: ...
    def set_notify(self, kind: str, on: bool) -> None: ...
    def quit(self) -> None: ...


def gui_unavailable_reason() -> str | None:
    """Why no tray icon can be shown here, or None when one can be tried."""
    if sys.platform in ("win32", "darwin"):
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    if "GDK_GL" not in os.environ:
        # An icon draws no GL, but GDK probes GL visuals when it opens the display, which maps
        # the GL driver into the daemon for good (Mesa's llvmpipe: ~55 MB resident). GDK
        # reads only the environment. This runs before GLib starts any thread: setenv while
        # another thread calls getenv can crash the process (seen here, in GDBus's worker).
        os.environ["GDK_GL"] = "disable"
        DAEMON_ONLY_ENV.add("GDK_GL")
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import GLib

        GLib.set_prgname(NAME)  # before GTK opens the display: it becomes WM_CLASS
        GLib.set_application_name("Tray Agent")
        from gi.repository import Gtk
    except (ImportError, ValueError) as exc:
        return f"GTK 3 for Python is missing ({exc}); install PyGObject (pip install 'tray-agent[linux]')"
    if not Gtk.init_check()[0]:  # type: ignore[index]  # GTK 3's init_check returns (ok, argv); the stubs are GTK 4's
        return f"cannot open the display {os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')}"
    return None


def _sni_host_present() -> bool:
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), GLib.VariantType("(b)"),
                              Gio.DBusCallFlags.NONE, 1000, None)
        return bool(reply.unpack()[0])
    except Exception:
        return False


def choose_backend() -> str | None:
    """The pystray back-end for this desktop (None: pystray's platform default)."""
    if os.environ.get("PYSTRAY_BACKEND"):
        return os.environ["PYSTRAY_BACKEND"]
    if sys.platform in ("win32", "darwin"):
        return None
    if _sni_host_present() or not os.environ.get("DISPLAY"):
        return "appindicator"  # XEmbed (GtkStatusIcon) does not exist on Wayland
    return "gtk"


def _import_icon_class(backend: str | None) -> Any:
    """pystray's ``Icon`` class of this back-end (None: pystray's own choice).

    The back-end module is imported by name rather than through ``PYSTRAY_BACKEND``:
    setting a variable now, with GDBus's worker thread already running, can crash the
    process (setenv racing getenv)."""
    # The GTK back-ends stand in for each other; never fall through to "xorg" (no menu).
    order = [backend, *(b for b in ("gtk", "appindicator") if b != backend)] \
        if backend in ("gtk", "appindicator") else [backend]
    errors = []
    for name in order:
        try:
            import pystray

            return importlib.import_module(f"pystray._{name}").Icon if name else pystray.Icon
        except Exception as exc:  # ImportError, or Xlib's DisplayNameError for xorg
            errors.append(f"{name}: {exc}")
    raise ImportError("; ".join(errors))


class PngImage:
    """A tray image as PNG bytes: all pystray's GTK back-ends ask of an image is
    ``save(file, "PNG")`` (to a file GTK loads), so the daemon needs no Pillow for it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, fp: Any, format: str | None = None, **_params: Any) -> None:  # noqa: A002 - Pillow's name
        if format not in (None, "PNG", "png"):
            raise ValueError(f"only PNG is held here, not {format}")
        fp.write(self.data)


def _bg(fn: Callable[[], Any]) -> Callable[[], None]:
    """Menu callbacks run in the GUI thread: do the work (a database write) beside it."""
    def run() -> None:
        threading.Thread(target=fn, name="tray-action", daemon=True).start()
    return run


class Tray:
    def __init__(self, actions: TrayActions, backend: str | None = None) -> None:
        self.actions = actions
        icon_class = _import_icon_class(backend if backend is not None else choose_backend())
        self.backend: str = icon_class.__module__.rsplit("._", 1)[-1]  # "gtk", "win32", ...
        self.state = TrayState()
        self.image = self._image(0, False)
        self.icon = icon_class(NAME, self.image, "Tray Agent", menu=self._menu(self.state))

    def _image(self, count: int, dnd: bool) -> Any:
        data = drawing.png(count, dnd)
        if self.backend in ("gtk", "appindicator"):
            return PngImage(data)
        from PIL import Image  # Windows' and macOS' back-ends convert the image themselves

        return Image.open(io.BytesIO(data))

    # -- running --------------------------------------------------------------------------

    def run(self, on_ready: Callable[[], None]) -> None:
        """Show the icon and run the GUI loop until ``stop``; ``on_ready`` runs beside it."""
        def setup(icon: Any) -> None:
            icon.visible = True
            on_ready()

        try:
            self.icon.run(setup)
        except Exception:  # e.g. no notification server when pystray tidies up
            log.exception("the tray icon's loop ended with an error")

    def stop(self) -> None:
        self.icon.stop()

    def on_signals(self, handler: Callable[[], None]) -> None:
        """SIGTERM/SIGINT/SIGHUP call ``handler`` (from the GUI loop) instead of killing us."""
        if self.backend in ("gtk", "appindicator"):
            from gi.repository import GLib

            handled = threading.Event()

            def on_signal(*_: object) -> bool:
                handled.set()
                handler()
                return False  # GLib.SOURCE_REMOVE: the first signal starts the shutdown

            for sig in (signal.SIGTERM, signal.SIGHUP):
                GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, on_signal)
            sigint = GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_signal)

            def take_sigint_back() -> bool:
                # pystray's GTK loop resets SIGINT to the default action as it starts (so
                # Ctrl+C killed the daemon untidied); this idle call runs once that loop
                # is up. Dropping GLib's last SIGINT source and adding it again makes
                # GLib install its handler afresh.
                if not handled.is_set():
                    GLib.source_remove(sigint)
                    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_signal)
                return False

            GLib.idle_add(take_sigint_back)
        else:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: handler())

    def embedded(self, timeout: float = 2.0) -> bool | None:
        """Has a tray host taken the icon (gtk back-end only; None when unknown)?"""
        if self.backend != "gtk":
            return None
        from gi.repository import GLib

        answer: list[bool] = []
        done = threading.Event()

        def ask() -> bool:
            answer.append(bool(self.icon._status_icon.is_embedded()))
            done.set()
            return False

        GLib.idle_add(ask)
        return answer[0] if done.wait(timeout) and answer else None

    # -- showing state ----------------------------------------------------------------------

    def show(self, state: TrayState) -> None:
        """Redraw the badge and rebuild the menu (thread-safe: pystray defers to its loop)."""
        changed_image = (state.unread, state.dnd_active) != (self.state.unread, self.state.dnd_active)
        self.state = state
        if changed_image:
            self.image = self._image(state.unread, state.dnd_active)
            self.icon.icon = self.image
        self.icon.title = state.tooltip
        self.icon.menu = self._menu(state)

    def png(self) -> bytes:
        """The image pystray currently holds, as PNG."""
        buf = io.BytesIO()
        self.icon.icon.save(buf, "PNG")
        return buf.getvalue()

    def _notify_item(self, kind: str, label: str, state: TrayState) -> Any:
        from pystray import MenuItem as Item

        on = kind not in state.notify_off
        return Item(label, _bg(lambda: self.actions.set_notify(kind, not on)), checked=lambda _item: on)

    def _menu(self, state: TrayState) -> Any:
        from pystray import Menu, MenuItem as Item

        a = self.actions

        def opener(cid: int | None) -> Callable[[], None]:
            return _bg(lambda: a.open_window(cid))

        recent = [Item(label, opener(cid)) for cid, label in state.recent] or \
            [Item("No unread conversations", None, enabled=False)]
        return Menu(
            Item("Open inbox" + (f" ({state.unread} unread)" if state.unread else ""), opener(None), default=True),
            Menu.SEPARATOR,
            *recent,
            Menu.SEPARATOR,
            Item("Do not disturb", _bg(lambda: a.set_dnd(not state.dnd_manual)),
                 checked=lambda _item: state.dnd_manual),
            Item("Do not disturb for 1 hour", _bg(lambda: a.dnd_for(60))),
            Item("Notification settings", Menu(
                Item("Pop-up notifications", _bg(lambda: a.set_popup(not state.popup)),
                     checked=lambda _item: state.popup),
                Item("Sound", _bg(lambda: a.set_sound(not state.sound)), checked=lambda _item: state.sound),
                Menu.SEPARATOR,
                *(self._notify_item(kind, label, state) for kind, label in NOTIFY_KINDS),
            )),
            Menu.SEPARATOR,
            Item("Quit Tray Agent", _bg(a.quit)),
        )
