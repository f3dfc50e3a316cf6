"""The chat window's files, and the launch URL that trades the token for a cookie.

``web_ui/`` is served from the source tree when it is there (a checkout, an editable
install), else from the copy installed with the package (``share/tray-agent/web_ui``),
else from a PyInstaller bundle; ``TRAY_AGENT_WEB_UI`` names another folder.
"""

from __future__ import annotations

import hmac
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from tray_agent.api import security
from tray_agent.api.deps import StateDep
from tray_agent.core.errors import NotFound

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
               ".ico": "image/x-icon", ".json": "application/json"}


@lru_cache(maxsize=1)
def web_ui_dir() -> Path:
    """Where the window's files are (see the module docstring for the order)."""
    candidates = [os.environ.get("TRAY_AGENT_WEB_UI"),
                  Path(__file__).resolve().parents[3] / "web_ui",
                  Path(sys.prefix) / "share" / "tray-agent" / "web_ui",
                  Path(getattr(sys, "_MEIPASS", "")) / "web_ui" if hasattr(sys, "_MEIPASS") else None]
    for c in candidates:
        if c and (Path(c) / "index.html").is_file():
            return Path(c).resolve()
    raise FileNotFoundError("The chat window's files (web_ui/) are missing from this installation.")


@router.get("/")
def index(request: Request, state: StateDep, token: Optional[str] = None) -> Response:
    """The window. Opened once as ``/?token=...`` (``security.window_url``): the token
    becomes an HttpOnly, SameSite=Strict cookie and the browser is sent on to ``/``, so
    the token never sits in the address bar or in the page's reach."""
    if token is not None:
        if not hmac.compare_digest(token.encode(), state.token.encode()):
            return Response("This link's token is wrong or out of date; open the window from the tray icon.",
                            status_code=401, media_type="text/plain")
        # 303 keeps the #/conversation/ID fragment: browsers carry it across redirects.
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(security.cookie_name(request.headers.get("host")), token,
                            httponly=True, samesite="strict", path="/")
        return response
    return _file("index.html")


@router.get("/ui/{path:path}")
def asset(path: str) -> Response:
    return _file(path)


def _file(rel: str) -> Response:
    root = web_ui_dir()
    target = (root / rel).resolve()
    if root not in target.parents or not target.is_file() or target.suffix not in MEDIA_TYPES:
        raise NotFound(f"There is no file {rel!r} in the window.")
    # no-cache: revalidated (ETag) on every load, so an upgrade never mixes old and new modules
    return FileResponse(target, media_type=MEDIA_TYPES[target.suffix], headers={"Cache-Control": "no-cache"})
