"""What the open chat window costs, in all its processes (the pywebview host and WebKit's
web and network processes, PSS so shared pages count once), and that closing it frees
every one of them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.desktop.conftest import close_chat_window, window_toplevel
from tests.desktop.procs import alive, descendants, mem_mb
from tests.desktop.test_window import _loaded

pytestmark = pytest.mark.desktop

#: What the window reaches here (issue 16 aims at 200 MB; 303 MB before the WebKit tuning,
#: 214 with the JIT, 204-205 without).
WINDOW_PSS_MB = 240


def test_the_open_window_stays_under_its_budget_and_closing_frees_every_process(
        desktop_env, desktop, start_daemon) -> None:
    d = start_daemon(desktop_env)
    for i in range(30):
        d.inbound(f"+1415555{i:04d}", f"Question {i} about my order", name=f"Customer {i}")
    d.api("POST", "/api/desktop/open", {})
    window_toplevel(desktop)
    _loaded(d)
    time.sleep(4)  # WebKit settles its caches after the first paint
    pids = descendants(d.status()["window"]["pid"])
    figures = [mem_mb(p) for p in pids if alive(p)]
    report = ", ".join(f"{n} {r:.0f}/{p:.0f}" for n, r, p in figures)
    total_pss = sum(p for _n, _r, p in figures)
    print(f"window processes (RSS/PSS MB): {report}; PSS total {total_pss:.0f} MB")
    assert len(figures) >= 3, report  # host, web and network process: the ones measured
    assert sum(1 for n, _r, _p in figures if "WebProcess" in n or "WebKitWebProces" in n) == 1, report
    assert total_pss <= WINDOW_PSS_MB, report
    # The page that renders customers' text runs its script without a JIT, collecting on
    # one thread (webview_tuning.ENVIRONMENT): ~9 MB PSS less, no writable-executable pages.
    web = next(p for p in pids if alive(p) and "WebKitWebProces" in mem_mb(p)[0])
    jsc = sorted(e for e in Path(f"/proc/{web}/environ").read_bytes().split(b"\0") if e.startswith(b"JSC_"))
    assert jsc == [b"JSC_numberOfGCMarkers=1", b"JSC_useConcurrentGC=0", b"JSC_useJIT=0"]  # only these: no env in logs
    close_chat_window(desktop, d)
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"left after closing: {[p for p in pids if alive(p)]}"
        time.sleep(0.2)
