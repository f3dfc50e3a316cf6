"""The chat window, in its own process: ``python -m tray_agent.desktop.window URL``.

A thin pywebview host for the web UI (GTK/WebKit2 on Linux, EdgeChromium on Windows,
WKWebView on macOS). The API token comes in ``TRAY_AGENT_TOKEN`` (not on the command
line, where other users could read it). The daemon sends one JSON line per request on
stdin (``{"cmd": "show", "fragment": "#/conversation/7"}``); end of input, the daemon's
death (we are re-parented) or SIGTERM closes the window. Exits with ``EXIT_NO_GUI`` when no GUI back-end
can start, so the daemon falls back to the browser. Closing the window ends the process
and frees all its memory.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from tray_agent.desktop.webview_tuning import attach as tune_webkit, prepare_environment

EXIT_NO_GUI = 3
TITLE = "Tray Agent"
log = logging.getLogger("tray_agent.window")


def with_token(url: str, token: str) -> str:
    """``http://host:port/#/x`` → ``http://host:port/?token=...#/x`` (the web UI trades it
    for a cookie and redirects, keeping the fragment)."""
    if not token:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", f"token={quote(token)}", parts.fragment))


def _gui_name() -> Literal["gtk"] | None:
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return "gtk"
    return None  # pywebview's default: EdgeChromium on Windows, Cocoa/WKWebView on macOS


def at_fragment(url: str, fragment: str) -> str:
    """The window's page URL (no token: the cookie holds the session) at ``fragment``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", fragment.lstrip("#")))


def _command(window: Any, page_url: str, msg: dict[str, Any]) -> None:
    if msg.get("cmd") == "show":
        fragment = str(msg.get("fragment") or "")
        if fragment.startswith("#/"):
            # A navigation, not evaluate_js: the page's CSP has no 'unsafe-eval'. Only
            # the fragment differs, so WebKit stays on the page and the UI routes on
            # its hashchange.
            window.load_url(at_fragment(page_url, fragment))
        window.restore()  # un-minimise and present: brings it to the front
        window.show()


class _Closer:
    """Destroys the window once, whoever asks first: the daemon's end of input, its death,
    a signal, or the user's own close. Ctrl+C reaches this window and the daemon together,
    and the daemon's exit then ends our stdin: two destroys queued on pywebview's GTK loop
    raise ``KeyError`` in its second ``close_window``."""

    def __init__(self, window: Any, grace: float = 3.0) -> None:
        self._window = window
        self._grace = grace
        self._once = threading.Lock()  # taken once, never released; non-blocking, so safe in a signal handler
        window.events.closing += self._user_closing

    def _user_closing(self) -> None:
        self._once.acquire(blocking=False)  # the window is already on its way out

    def __call__(self, *_: object) -> None:
        """Destroy the window; if the GUI loop does not end it in time, end the process."""
        if not self._once.acquire(blocking=False):
            return
        timer = threading.Timer(self._grace, lambda: os._exit(0))
        timer.daemon = True  # a normal exit does not wait for it
        timer.start()
        try:
            self._window.destroy()
        except Exception:
            log.exception("destroying the window failed")
            os._exit(0)


def _commands(window: Any, page_url: str, close: _Closer) -> None:
    """Follow the daemon's requests until it closes our stdin."""
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            if isinstance(msg, dict):
                _command(window, page_url, msg)
        except Exception:  # one bad request must not stop us hearing the next ones
            log.exception("window command failed: %.200s", line.strip())
    log.info("the daemon went away; closing the window")
    close()


def _watch_parent(close: _Closer, parent: int, interval: float = 0.5) -> None:
    """Close when the daemon dies, even if something else still holds our stdin open."""
    while os.getppid() == parent:
        time.sleep(interval)
    log.info("the daemon (pid %s) died; closing the window", parent)
    close()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s window %(levelname)s: %(message)s")
    if not args:
        print("usage: python -m tray_agent.desktop.window URL", file=sys.stderr)
        return 2
    url = with_token(args[0], os.environ.pop("TRAY_AGENT_TOKEN", ""))
    gui = _gui_name()
    try:
        if gui == "gtk":
            prepare_environment()
            import gi

            gi.require_version("Gtk", "3.0")
            gi.require_version("Gdk", "3.0")
            from gi.repository import Gdk, GLib

            # WM_CLASS ("tray-agent-window", "Tray-agent"): what window managers and
            # desktop entries (StartupWMClass) group windows by.
            GLib.set_prgname("tray-agent-window")
            Gdk.set_program_class("Tray-agent")  # type: ignore[attr-defined]  # GDK 3 only; the stubs are GDK 4's
            from gi.repository import Gtk
            if not Gtk.init_check()[0]:  # type: ignore[index]  # GTK 3's init_check returns (ok, argv); the stubs are GTK 4's
                raise RuntimeError("GTK cannot open the display")
        import webview
    except Exception as exc:  # ImportError, ValueError (typelib missing), no display
        log.warning("no GUI back-end for the window: %s", exc)
        return EXIT_NO_GUI

    window = webview.create_window(TITLE, url, width=1000, height=700, min_size=(560, 420),
                                   text_select=True, background_color="#FFFFFF")
    assert window is not None  # None only when created from another thread after start()
    window.events.loaded += lambda: log.info("loaded %s", window.get_current_url())
    tune_webkit(window)  # WebKit set for an inbox, not a browser
    close = _Closer(window)
    # Ctrl+C in the agent's terminal signals its whole group, this window too: close as
    # when the agent asks, without a KeyboardInterrupt traceback out of the GUI loop.
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):  # no SIGHUP on Windows
        if sig is not None:
            signal.signal(sig, close)
    page_url = args[0]
    parent = os.getppid()

    def started() -> None:
        threading.Thread(target=_commands, args=(window, page_url, close), name="commands", daemon=True).start()
        threading.Thread(target=_watch_parent, args=(close, parent), name="parent", daemon=True).start()

    try:
        webview.start(started, gui=gui, private_mode=True)
    except Exception as exc:  # WebViewException: no usable renderer
        log.warning("pywebview could not start: %s", exc)
        return EXIT_NO_GUI
    return 0


if __name__ == "__main__":
    sys.exit(main())
