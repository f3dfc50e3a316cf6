"""WebKit2GTK set for an inbox, not a browser: no GPU paths (they resolve to a software GL
renderer on most desktops and cost ~100 MB), no page or back-forward cache, no media
stacks, the document-viewer cache model, and early memory-pressure limits for the web
and network processes. Other back-ends (Windows, macOS) are left as they are.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("tray_agent.window")

#: What the web process may hold before WebKit frees caches (it starts at 50 % of this).
WEB_PROCESS_MB = 128
NETWORK_PROCESS_MB = 64
#: Settings an inbox does not use; each off keeps a subsystem unloaded. (DNS prefetching
#: and hyperlink auditing are off for good in WebKit 2.50: setting them only logs a
#: deprecation warning at every window start.)
OFF = ("enable_page_cache", "enable_webgl", "enable_webaudio", "enable_media_stream", "enable_mediasource",
       "enable_media_capabilities", "enable_encrypted_media",
       "enable_back_forward_navigation_gestures", "enable_site_specific_quirks", "enable_webrtc")


#: Set in the window's process before GTK starts (one thread then: setenv is safe), and
#: inherited by WebKit's processes. With hardware acceleration off the host composites no
#: GL, so GTK's GLX probe and WebKit's DMA-BUF renderer (its EGL set-up in the host) are
#: for nothing: 177 → 171 MB RSS in the host. WebKit 2.50 itself still needs an EGL display
#: in both processes (it aborts without one), which maps Mesa's swrast driver and libLLVM
#: (42 MB resident in each, shared; loading it alone touches that much: GALLIUM_DRIVER=softpipe
#: and DRAW_USE_LLVM=0 leave it the same).
#:
#: JavaScriptCore runs the inbox's script in its interpreter, without its JIT tiers, and
#: collects on one thread: the window as opened on a fresh inbox 214 → 204-205 MB PSS
#: (every run; bench/daemon_footprint.py --fresh-only). At 100,000 conversations the gain is
#: inside the spread between runs (339 → 307, then 328 → 326 MB PSS); scrolling stays at
#: 17 ms p95, first paint and opening a 10,000-message conversation take ~10 % longer
#: (175 → 192 ms, 69 → 78 ms p50; bench/window_webkit.py), a hot script loop 3.2× longer
#: (the inbox has none). No JIT also means no writable-executable memory in the process
#: that renders customers' text. MALLOC_ARENA_MAX=2 changes nothing there (WebKit allocates
#: with libpas, not glibc).
ENVIRONMENT = {"GDK_GL": "disable", "WEBKIT_DISABLE_DMABUF_RENDERER": "1",
               "JSC_useJIT": "0", "JSC_numberOfGCMarkers": "1", "JSC_useConcurrentGC": "0"}


def prepare_environment() -> None:
    """Before GTK: what the user set wins (``GDK_GL=gles`` to debug, say)."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def attach(window: Any) -> None:
    """Tune the WebKit view pywebview builds for ``window`` (call before ``webview.start``)."""
    try:
        import gi

        gi.require_version("WebKit2", "4.1")
        from gi.repository import WebKit2  # type: ignore[attr-defined]  # the stubs describe GTK 4 only
    except (ImportError, ValueError):
        return  # not the GTK back-end
    _memory_pressure(WebKit2)
    window.events.before_show += lambda: tune_view(WebKit2, window.native)


def _memory_pressure(WebKit2: Any) -> None:
    """Limits for processes not started yet; they must be set before the first context."""
    for owner, mb in ((getattr(WebKit2, "WebContext", None), WEB_PROCESS_MB),
                      (getattr(WebKit2, "WebsiteDataManager", None), NETWORK_PROCESS_MB)):
        setter = getattr(owner, "set_memory_pressure_settings", None)
        if setter is None or not hasattr(WebKit2, "MemoryPressureSettings"):
            continue
        s = WebKit2.MemoryPressureSettings.new()
        s.set_memory_limit(mb)
        s.set_conservative_threshold(0.33)
        s.set_strict_threshold(0.5)
        s.set_poll_interval(10.0)
        setter(s)


def find_view(widget: Any, WebKit2: Any) -> Any:
    """The WebKit view inside a GTK window (pywebview nests it in a box and a scroller)."""
    if isinstance(widget, WebKit2.WebView):
        return widget
    for child in (widget.get_children() if hasattr(widget, "get_children") else []):
        found = find_view(child, WebKit2)
        if found is not None:
            return found
    return None


def tune_view(WebKit2: Any, native: Any) -> None:
    view = find_view(native, WebKit2)
    if view is None:
        log.warning("no WebKit view found to tune")
        return
    props = view.get_settings().props
    props.hardware_acceleration_policy = WebKit2.HardwareAccelerationPolicy.NEVER
    for name in OFF:
        if hasattr(props, name):
            setattr(props, name, False)
    view.get_context().set_cache_model(WebKit2.CacheModel.DOCUMENT_VIEWER)
