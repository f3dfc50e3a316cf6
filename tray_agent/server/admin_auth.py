"""How an administrator reaches the admin view: its static files under ``/admin/``, and a
session — an admin's device token or one-time code traded for a browser device of its own,
held in an HttpOnly, SameSite=Strict cookie (Secure over TLS). A cookie alone never changes
anything: writes also need the ``X-CSRF-Token`` header, which only the page can read.
Anyone who is not an administrator is told 404, as for anything they may not see.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, model_validator

from tray_agent.api.routes.ui import MEDIA_TYPES, web_ui_dir
from tray_agent.api.security import CSP
from tray_agent.core.errors import NotFound
from tray_agent.core.views import AgentView
from tray_agent.server.accounts import Accounts, Actor, Caller, DeviceView
from tray_agent.server.deps import get_accounts
from tray_agent.server.routes_sync import PREFIX

ADMIN_PREFIX = f"{PREFIX}/admin"
COOKIE = "tray_agent_admin"
CSRF_HEADER = "x-csrf-token"
#: The browser's device: what the admin sees in the device list (and revokes to end it).
SESSION_DEVICE = "Admin view (browser)"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: The window's own files the admin view shares (its style sheet, its DOM builder).
SHARED_FILES = {"css/app.css", "js/dom.js"}
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}

router = APIRouter(tags=["administration"])


@dataclass(frozen=True)
class AdminCaller:
    """An administrator's request, and the actor it is audited as."""

    caller: Caller
    actor: Actor
    token: str


def cookie_name(request: Request) -> str:
    """Per port, like the window's cookie: cookies ignore ports, two servers on one host
    (a test run's, a staging one) must not overwrite each other's session."""
    port = request.url.port
    return f"{COOKIE}_{port}" if port else COOKIE


def csrf_of(token: str) -> str:
    """The page's write key: derived from the session's token, so nothing extra is stored,
    and unreadable to another site (it only comes in a same-origin JSON answer)."""
    return hashlib.sha256(f"tray-agent-admin-csrf:{token}".encode()).hexdigest()


def get_admin(request: Request) -> AdminCaller:
    """401 without a valid token; 404 for an agent who is not an administrator; 403 for a
    cookie-carried write without the page's CSRF header."""
    accounts = get_accounts(request)
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    token = bearer or request.cookies.get(cookie_name(request), "")
    caller = accounts.authenticate(token)
    if caller is None:
        raise HTTPException(401, "Sign in to the admin view with an administrator's token or sign-in code.",
                            headers={"WWW-Authenticate": "Bearer"})
    if not caller.admin:
        raise NotFound("There is nothing here.")
    if not bearer and request.method not in SAFE_METHODS and \
            not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), csrf_of(token).encode()):
        raise HTTPException(403, "This change did not come from the admin view; reload it and try again.")
    return AdminCaller(caller, Actor(accounts.inbox.get_agent(caller.agent_id).name, caller.agent_id), token)


AdminDep = Annotated[AdminCaller, Depends(get_admin)]


# -- the session -------------------------------------------------------------------------

class SessionBody(BaseModel):
    """Exactly one of them: an administrator's one-time sign-in code, or a device token."""

    code: Optional[str] = Field(None, max_length=100)
    token: Optional[str] = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> "SessionBody":
        if bool((self.code or "").strip()) == bool((self.token or "").strip()):
            raise ValueError("give either a sign-in code or a device token")
        return self


class SessionView(BaseModel):
    agent: AgentView
    device: DeviceView
    #: Send it back as the X-CSRF-Token header with every change.
    csrf: str


@router.post(f"{ADMIN_PREFIX}/session", status_code=201, response_model=SessionView)
def open_session(body: SessionBody, request: Request, response: Response) -> SessionView:
    """Trade an admin's code or token for a browser session (a device of its own)."""
    accounts = get_accounts(request)
    source = request.client.host if request.client else "unknown"
    if body.token:
        caller = accounts.authenticate(body.token.strip())
        if caller is None:
            raise HTTPException(401, "This device token is unknown or revoked.")
        if not caller.admin:
            raise NotFound("There is nothing here.")
        # The browser gets its own device (revoked on sign-out), not the desktop's token.
        actor = Actor(accounts.inbox.get_agent(caller.agent_id).name, caller.agent_id)
        code = accounts.issue_code(actor, caller.agent_id)
    else:
        code = body.code or ""
    device, agent, token = accounts.sign_in(code, SESSION_DEVICE, source)
    if agent.role != "admin":
        accounts.revoke_device(Actor(agent.name, agent.id), device.id)  # an agent's code opens no admin session
        raise NotFound("There is nothing here.")
    response.set_cookie(cookie_name(request), token, httponly=True, samesite="strict", path="/",
                        secure=_over_tls(request))
    return SessionView(agent=agent, device=device, csrf=csrf_of(token))


@router.get(f"{ADMIN_PREFIX}/session", response_model=SessionView)
def current_session(admin: AdminDep, request: Request) -> SessionView:
    accounts: Accounts = get_accounts(request)
    device = next(d for d in accounts.list_devices(admin.caller.agent_id) if d.id == admin.caller.device_id)
    return SessionView(agent=accounts.inbox.get_agent(admin.caller.agent_id), device=device,
                       csrf=csrf_of(admin.token))


@router.delete(f"{ADMIN_PREFIX}/session", status_code=204)
def close_session(admin: AdminDep, request: Request) -> Response:
    """Sign out: the browser's device is revoked, its cookie cleared."""
    get_accounts(request).revoke_device(admin.actor, admin.caller.device_id)
    response = Response(status_code=204)
    response.delete_cookie(cookie_name(request), path="/", httponly=True, samesite="strict",
                           secure=_over_tls(request))
    return response


def _over_tls(request: Request) -> bool:
    """TLS here, or at the proxy in front (uvicorn's proxy_headers sets the scheme, and
    ``[server] public_url`` says so)."""
    public = getattr(getattr(request.app.state.app.config, "server", None), "public_url", "") or ""
    return request.url.scheme == "https" or public.startswith("https://")


# -- the page's files ----------------------------------------------------------------------

@router.get("/admin", include_in_schema=False)
def admin_root() -> Response:
    return RedirectResponse("/admin/", status_code=308)


@router.get("/admin/{path:path}", include_in_schema=False)
def admin_file(path: str) -> Response:
    """The admin view (web_ui/admin/), and the two files it shares with the window."""
    root = web_ui_dir()
    rel = path or "index.html"
    base = root if rel in SHARED_FILES else root / "admin"
    target = (base / rel).resolve()
    if (root / "admin") not in target.parents and rel not in SHARED_FILES or not target.is_file() \
            or target.suffix not in MEDIA_TYPES:
        raise NotFound(f"There is no file {rel!r} in the admin view.")
    return FileResponse(target, media_type=MEDIA_TYPES[target.suffix], headers=HEADERS)
