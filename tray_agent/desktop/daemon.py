"""``tray-agent`` with no command: the tray daemon.

One process runs the local API with the channels and background tasks (uvicorn, in a
thread), the notification engine and the tray icon (pystray, owning the main thread as
GUI toolkits require). The chat window is a separate process started on demand. With no
display, tray host or notification server it keeps running headless: it prints the web
UI's address and logs what it would have notified. One instance per user: a second
launch brings the first one's window up and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tray_agent import logs
from tray_agent.desktop import dnd, instance
from tray_agent.desktop.launcher import WindowLauncher
from tray_agent.desktop.notification_engine import Notifications
from tray_agent.desktop.state import StateWatcher, TrayState
from tray_agent.run.stop_signals import take_stop_signals

if TYPE_CHECKING:
    from tray_agent.app import App
    from tray_agent.desktop.tray import Tray
    from tray_agent.run.runner import Runner

log = logging.getLogger("tray_agent.desktop")
STATE_FILE = "desktop-state.json"
API_START_TIMEOUT = 30.0
#: SQLite page cache per connection in the daemon (KiB). The store's default (32 MB) is for
#: bulk ingest; the daemon's reads (unread count, recent list) fill it with ~25 MB at 100k
#: conversations and would hold that resident until the idle release.
DAEMON_CACHE_KIB = 8192
#: All of SQLite's memory in the daemon (KiB). Each pooled connection's cache fills to
#: DAEMON_CACHE_KIB as the store grows, and a busy daemon keeps several open (the API's
#: worker threads, the background tasks, the tray and notification readers): six readers
#: of a 40 MB store held 49.7 MB unbounded. (A short soak's 6 MB store used only ~3 MB.)
DAEMON_SQLITE_KIB = 16384


class Shell:
    """What the tray menu, notification clicks and ``/api/desktop/*`` act through. Every
    change goes through the service layer (``app.inbox``)."""

    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.app = daemon.app
        self.agent_id = daemon.agent_id

    @property
    def url(self) -> str:
        return self.d.runner.url + "/"

    def open_window(self, conversation_id: int | None = None) -> str:
        return self.d.launcher.open(conversation_id)

    def set_dnd(self, on: bool) -> None:
        self.app.inbox.update_settings(self.agent_id, {"dnd": on, "dnd_until": None})

    def dnd_for(self, minutes: int) -> None:
        until = (self.app.clock.now() + timedelta(minutes=minutes)).astimezone()
        self.app.inbox.update_settings(self.agent_id, {"dnd": False, "dnd_until": until.isoformat(timespec="seconds")})

    def set_popup(self, on: bool) -> None:
        self.app.inbox.update_settings(self.agent_id, {"popup": on})

    def set_sound(self, on: bool) -> None:
        self.app.inbox.update_settings(self.agent_id, {"sound": on})

    def set_notify(self, kind: str, on: bool) -> None:
        self.app.inbox.update_settings(self.agent_id, {"notify": {kind: on}})

    def quit(self) -> None:
        self.d.stop()

    def status(self) -> dict[str, Any]:
        import base64

        d = self.d
        state = d.watcher.state if d.watcher else None
        tray = d.tray
        return {
            "pid": os.getpid(),
            "url": self.url,
            "headless_reason": d.headless_reason,
            "tray": None if tray is None else {
                "backend": tray.backend,
                "embedded": tray.embedded(),
                "tooltip": tray.icon.title,
                "icon_png": base64.b64encode(tray.png()).decode(),
            },
            "state": None if state is None else {
                "unread": state.unread, "recent": [list(r) for r in state.recent], "dnd_active": state.dnd_active,
                "dnd_manual": state.dnd_manual, "dnd_reason": state.dnd_reason, "popup": state.popup,
                "sound": state.sound,
            },
            "window": {"open": d.launcher.is_open(), "pid": d.launcher.pid, "opened": d.launcher.opened,
                       "last_fragment": d.launcher.last_fragment},
            "notifications": list(d.engine.recent),
            "ready_seconds": d.ready_seconds,
            "threads": sorted(t.name for t in threading.enumerate()),  # what the footprint tests bound
        }


class Daemon:
    def __init__(self, app: "App", lock: instance.InstanceLock) -> None:
        from tray_agent.run.runner import Runner

        self.t0 = time.monotonic()
        self.app = app
        self.lock = lock
        app.db.limit_cache(DAEMON_CACHE_KIB, total_kib=DAEMON_SQLITE_KIB)
        self.agent_id = app.agent.id
        self.shell = Shell(self)
        self.runner: Runner = Runner(app, desktop=self.shell)  # the API's desktop routes act through the shell
        self.token: str = self.runner.token
        self.tray: Tray | None = None
        self.watcher: StateWatcher | None = None
        self.ready_seconds: float | None = None
        self.exit_code = 0
        self._stopped = threading.Event()
        self._api_thread: threading.Thread | None = None
        self.headless_reason = self._gui_check()
        self.launcher = WindowLauncher(self.runner.url, self.token, gui=self.headless_reason is None)
        self.engine = Notifications(app, self.agent_id, app.notifiers, state_path=app.paths.data / STATE_FILE)
        for n in app.notifiers:
            if hasattr(n, "on_activate"):
                n.on_activate = self._clicked

    def _gui_check(self) -> str | None:
        from tray_agent.desktop.tray import gui_unavailable_reason

        return gui_unavailable_reason()

    def _clicked(self, conversation_id: int | None) -> None:
        self.launcher.open(conversation_id)

    # -- running ----------------------------------------------------------------------------

    def run(self) -> int:
        if self.headless_reason is None:
            try:
                from tray_agent.desktop.tray import Tray

                self.tray = Tray(self.shell)
            except Exception as exc:
                self.headless_reason = f"the tray icon could not start: {exc}"
                log.warning("%s", self.headless_reason)
        if self.tray is None:
            print(f"No tray icon ({self.headless_reason}); running headless. "
                  "Notifications go to the log.", flush=True)
            self.launcher.gui = False
            # No icon to draw, but the same reads keep the status route honest and give
            # memory back when idle.
            self.watcher = StateWatcher(self.app, self.agent_id, self._follow_dnd(lambda _state: None))
            return self._run_headless()
        return self._run_with_tray(self.tray)

    def _run_with_tray(self, tray: "Tray") -> int:
        for n in self.app.notifiers:
            if hasattr(n, "listen_for_clicks"):
                n.listen_for_clicks()  # the GLib loop the tray runs delivers D-Bus signals
        self.watcher = StateWatcher(self.app, self.agent_id, self._follow_dnd(tray.show))
        self._api_thread = threading.Thread(target=self._serve_in_thread, name="api", daemon=True)
        self._api_thread.start()
        tray.on_signals(self.stop)
        tray.run(self._tray_ready)  # blocks (GUI loop) until stop()
        self.stop()
        if self._api_thread is not None:
            self._api_thread.join(15)
        return self.exit_code

    def _follow_dnd(self, show: Callable[[TrayState], None]) -> Callable[[TrayState], None]:
        """What the tray shows, and the presence do-not-disturb implies (busy while it holds)."""
        presence = dnd.BusyWhileQuiet(lambda status: self.app.inbox.set_status(self.agent_id, status))

        def on_change(state: TrayState) -> None:
            presence.observe(state.dnd_active)
            show(state)
        return on_change

    def _serve_in_thread(self) -> None:
        try:
            asyncio.run(self.runner.serve())
        except SystemExit as exc:  # uvicorn's way of saying it could not listen (logged above)
            if exc.code:
                log.error("the local API could not start on %s", self.runner.url)
                self.exit_code = 1
        except BaseException:  # noqa: BLE001 - the tray must learn that the API is gone
            log.exception("the local API stopped with an error")
            self.exit_code = 1
        if not self._stopped.is_set():
            if self.exit_code == 0:
                log.error("the local API stopped unexpectedly")
                self.exit_code = 1
            self.stop()

    def _tray_ready(self) -> None:
        """Runs in pystray's set-up thread once the icon is up."""
        deadline = time.monotonic() + API_START_TIMEOUT
        while not self.runner.started and not self._stopped.is_set():
            if time.monotonic() > deadline:
                log.error("the local API did not start within %.0f s", API_START_TIMEOUT)
                self.exit_code = 1
                self.stop()
                return
            time.sleep(0.01)
        if self._stopped.is_set():
            return
        self._started(tray=True)
        if self.tray is not None and self.tray.embedded(timeout=3.0) is False:
            time.sleep(2.0)  # a tray host can take a moment to embed a new icon
            if self.tray.embedded() is False:
                log.warning("no tray host has taken the icon; run `tray-agent` again to open the window "
                            "(`tray-agent doctor` says what is missing)")

    def _started(self, *, tray: bool) -> None:
        if self.watcher is not None:
            self.watcher.start()
        self.engine.start()
        self.ready_seconds = round(time.monotonic() - self.t0, 3)
        from tray_agent.cli.admin import startup_banner

        print(startup_banner(self.app, self.runner.url), flush=True)
        instance.write_info(self.app.paths.instance_file, url=self.runner.url, tray=tray,
                            started_at=time.time(), ready_seconds=self.ready_seconds)
        log.info("ready in %.2f s (%s)", self.ready_seconds, "tray" if tray else "headless")
        self.app.settle()

    def _run_headless(self) -> int:
        async def main() -> None:
            task = asyncio.create_task(self.runner.serve())
            while not self.runner.started and not task.done():
                await asyncio.sleep(0.01)
            if not task.done():
                self._started(tray=False)
            await task
            if not self._stopped.is_set() and not self.runner.started and not self.runner.stop_requested:
                raise SystemExit(1)

        take_stop_signals(self.runner.request_stop)  # exit 0 after tidying up, on SIGINT, SIGTERM or SIGHUP
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass
        except SystemExit as exc:  # uvicorn exits this way when it cannot listen
            if exc.code:
                log.error("the local API could not start on %s", self.runner.url)
                self.exit_code = 1
        self.stop()
        return self.exit_code

    def stop(self) -> None:
        """Stop everything once (from any thread): notifications, API, window, tray."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("stopping")
        if self.watcher is not None:
            self.watcher.stop()
        self.engine.stop()
        self.runner.request_stop()
        self.launcher.close()
        if self.tray is not None:
            self.tray.stop()
        instance.remove_info(self.app.paths.instance_file)
        for n in self.app.notifiers:
            close = getattr(n, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass


def _hand_over(app: "App") -> int:
    """Another daemon holds the lock: ask it to bring its window up."""
    info = instance.wait_for_info(app.paths.instance_file)
    if info is None:
        print("Tray Agent is already starting or stopping; try again in a moment.", file=sys.stderr)
        return 1
    try:
        token = app.paths.token_file.read_text().strip()
        answer = instance.request_open(info["url"], token)
    except OSError as exc:
        print(f"Tray Agent is already running (pid {info.get('pid')}) but did not answer: {exc}", file=sys.stderr)
        return 1
    opened = answer.get("opened")
    if opened == "none":
        print(f"Tray Agent is already running (pid {info.get('pid')}) without a display: "
              f"open {answer.get('url') or info['url']} in a browser.")
    else:
        print(f"Tray Agent is already running (pid {info.get('pid')}); brought up its {opened}.")
    return 0


def run(app: "App") -> None:
    """Start the daemon, or hand over to the one already running. Exits non-zero on failure."""
    logs.configure_app(app)
    from tray_agent.desktop.memory import limit_arenas

    limit_arenas()  # before the daemon's threads start allocating
    from tray_agent.desktop import heap_trace

    heap_trace.start_if_asked()  # debugging only: TRAY_AGENT_HEAP_TRACE
    lock = instance.acquire(app.paths.runtime)
    if lock is None:
        code = _hand_over(app)
    else:
        try:
            code = Daemon(app, lock).run()
        finally:
            lock.release()
    if code:
        sys.exit(code)
