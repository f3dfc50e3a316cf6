"""The real chat window on a big inbox: pywebview + WebKit2GTK set up exactly as the
window process sets it up (``desktop/window.py``, ``desktop/webview_tuning.py``), on a
private Xvfb desktop, against the real API serving the 100,000-conversation store that
``bench/window_perf.py`` seeds (and caches). Per environment variant it prints:

* first inbox paint (navigation → the ``tray:inbox-painted`` mark), ×8;
* opening the 10,000-message conversation (hash change → ``tray:conversation-painted``), ×12;
* scrolling the inbox 300 px per frame for 120 frames: frame intervals (and pages loaded);
* what each of the window's processes holds then (RSS/PSS MB), and that all are gone
  once the window is closed;
* a hot script loop, after the memory figures (what the JIT tiers are for).

    python bench/window_webkit.py [--conversations 100000 --messages 300000]
        [--variant NAME=VAR=VALUE,VAR=VALUE ...]   (default: the window as shipped, which
        runs JavaScriptCore without its JIT and collects on one thread; with WebKit's own
        JIT and concurrent collector; with the JIT alone)

PSS splits each shared page between the processes mapping it, so it falls when other
WebKit or GTK programs run on the machine (155-210 MB for the same window, RSS unchanged):
compare variants by RSS, or on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_VARIANTS = ["as shipped=",
                    "WebKit's JIT and concurrent GC (its defaults on 2 cores)="
                    "JSC_useJIT=1,JSC_useConcurrentGC=1,JSC_numberOfGCMarkers=2",
                    "JIT on, collecting on one thread=JSC_useJIT=1"]


# -- the window, driven from inside its own process -------------------------------------------

def _drive(url: str, big: int) -> None:
    """Runs in the child: the window process's own set-up, then timings through WebKit's
    own script evaluation (not pywebview's ``evaluate_js``: it wraps the script in
    ``eval``, which the page's CSP refuses)."""
    from tray_agent.desktop.webview_tuning import attach, find_view, prepare_environment

    prepare_environment()
    import gi

    gi.require_version("Gtk", "3.0")
    gi.require_version("WebKit2", "4.1")
    from gi.repository import GLib, WebKit2  # type: ignore[attr-defined]

    import webview

    from tests.desktop.procs import descendants, mem_mb

    window = webview.create_window("Tray Agent", url, width=1000, height=700)
    assert window is not None
    attach(window)
    loaded = threading.Event()
    window.events.loaded += loaded.set
    out: dict[str, Any] = {}

    def js(script: str) -> Any:
        done = threading.Event()
        box: list[Any] = []

        def finish(view: Any, task: Any) -> None:
            try:
                box.append(json.loads(view.evaluate_javascript_finish(task).to_string()))
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                box.append({"error": str(exc)})
            done.set()

        def start() -> bool:
            view = find_view(window.native, WebKit2)
            view.evaluate_javascript(f"JSON.stringify((() => {{ {script} }})())", -1, None, None, None, finish)
            return False

        GLib.idle_add(start)
        done.wait(30)
        return box[0] if box else None

    def until(script: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = js(script)
            if isinstance(value, dict) and "error" in value:
                raise RuntimeError(f"{value['error']} in: {script[:200]}")
            if value is not None and value is not False and value != -1:
                return value
            time.sleep(0.01)
        raise TimeoutError(script)

    def load(target: str) -> None:
        GLib.idle_add(lambda: find_view(window.native, WebKit2).load_uri(target) and False)

    def run() -> None:
        try:
            loaded.wait(60)
            until("return document.querySelectorAll('#inbox-list .row').length > 0 || false;")
            base = url.split("?", 1)[0].split("#", 1)[0]
            paints = []
            for _ in range(8):
                load("about:blank")
                until("return location.href === 'about:blank' || false;")
                load(base + "#/")
                paints.append(until("const e = performance.getEntriesByName('tray:inbox-painted')[0];"
                                    "return e ? e.startTime : -1;"))
            opens = []
            for _ in range(12):
                js("location.hash = '#/'; return 0;")
                until("return !document.body.classList.contains('show-conv') || false;")
                js(f"window.__t0 = performance.now(); location.hash = '#/conversation/{big}'; return 0;")
                opens.append(until("const e = performance.getEntriesByName('tray:conversation-painted')"
                                   ".find(e => e.startTime > window.__t0); return e ? e.startTime - window.__t0 : -1;"))
            js("location.hash = '#/'; return 0;")
            until("return !document.body.classList.contains('show-conv') || false;")
            js("""window.__frames = null; const el = document.querySelector('#inbox-list'); const t = [];
                  const step = (now) => { t.push(now); el.scrollTop += 300;
                    if (t.length < 120) requestAnimationFrame(step);
                    else window.__frames = { t, rows: document.querySelectorAll('#inbox-list .row').length,
                                             top: el.scrollTop }; };
                  requestAnimationFrame(step); return 0;""")
            frames = until("return window.__frames || false;", timeout=60)
            time.sleep(4)  # as the footprint test: WebKit settles its caches
            mem = {}
            for pid in descendants(os.getpid()):
                try:
                    name, rss, pss = mem_mb(pid)
                except OSError:
                    continue
                mem[f"{name} ({pid})"] = [round(rss, 1), round(pss, 1)]
            # After the memory figures (its JIT code is no inbox's): a hot loop, what the JIT
            # tiers are for (and proof that the JSC_* variables reached the web process).
            loop = js("const t = performance.now(); let x = 0; for (let i = 0; i < 3e7; i++) x = (x + i * 7) % 1000003;"
                      "return [performance.now() - t, x];")
            out.update(paint=paints, open=opens, frames=frames, loop_ms=loop[0], memory=mem,
                       pids=descendants(os.getpid()))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            out["error"] = f"{type(exc).__name__}: {exc}"
        print("RESULT " + json.dumps(out), flush=True)
        window.destroy()

    webview.start(lambda: threading.Thread(target=run, daemon=True).start(), gui="gtk", private_mode=True)


# -- the parent: store, API, desktop, variants ----------------------------------------------

def _alive(pid: int) -> bool:
    from tests.desktop.procs import alive

    return alive(pid)


def _variant(spec: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = spec.partition("=")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    return name, env


def _ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values):6.1f} ms, max {max(values):6.1f} ms"


def main() -> None:
    from bench.daemon_footprint import machine
    from bench.window_perf import BIG, build_app, seeded_home
    from tests.fixtures.desktop import _start_desktop
    from tray_agent.api.security import window_url
    from tray_agent.api.thread import ServerThread

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--variant", action="append", help="NAME=VAR=VALUE,VAR=VALUE (repeatable)")
    ap.add_argument("--drive", nargs=2, metavar=("URL", "BIG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        _drive(args.drive[0], int(args.drive[1]))
        return
    home, info = seeded_home(args.conversations, args.messages, False)
    print(f"Tray Agent window on WebKit2GTK — {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {machine()}")
    print(f"store: {args.conversations:,} conversations, {info['messages']:,} messages (one with {BIG:,})")
    app = build_app(home)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="tray-agent-webkit-") as tmp:
        desktop = _start_desktop(stack, Path(tmp))
        srv = stack.enter_context(ServerThread(app))
        for spec in args.variant or DEFAULT_VARIANTS:
            name, extra = _variant(spec)
            env = {**desktop.env, "PYTHONPATH": str(REPO), **extra}
            proc = subprocess.run([sys.executable, __file__, "--drive", window_url(srv.url, srv.token) + "#/",
                                   str(info["big_conversation_id"])], env=env, cwd=REPO, capture_output=True,
                                  text=True, timeout=600)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"\n== {name}: no result (exit {proc.returncode}) ==\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(line[len("RESULT "):])
            print(f"\n== {name} ({' '.join(f'{k}={v}' for k, v in extra.items()) or 'no extra environment'}) ==")
            if "error" in r:
                print(f"error: {r['error']}\n{proc.stderr[-2000:]}")
                continue
            paint, opens = r["paint"][1:], r["open"][2:]  # the first ones warm the caches
            t = r["frames"]["t"]
            gaps = sorted(b - a for a, b in zip(t, t[1:], strict=False))
            print(f"first inbox paint          {_ms(paint)}   (cold {r['paint'][0]:.1f} ms)")
            print(f"open a {BIG:,}-message conversation {_ms(opens)}   (cold {r['open'][0]:.1f} ms)")
            print(f"scroll 120 frames × 300 px  frame p50 {statistics.median(gaps):.1f} ms, "
                  f"p95 {gaps[int(0.95 * (len(gaps) - 1))]:.1f} ms, max {gaps[-1]:.1f} ms; "
                  f"{r['frames']['rows']} rows in the DOM at scrollTop {r['frames']['top']:.0f}")
            print(f"script hot loop (3e7 iterations) {r['loop_ms']:.0f} ms")
            total = sum(p for _r, p in r["memory"].values())
            print("window processes (RSS/PSS MB): " + ", ".join(f"{k} {v[0]:.0f}/{v[1]:.0f}"
                                                                   for k, v in r["memory"].items())
                  + f"; PSS total {total:.0f} MB")
            deadline = time.monotonic() + 15
            while any(_alive(p) for p in r["pids"]) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = [p for p in r["pids"] if _alive(p)]
            print("after closing: " + (f"still running {left}" if left else "every window process has gone"))
    app.close()
    print("load average at the end: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
