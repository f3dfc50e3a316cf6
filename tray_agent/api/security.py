"""The API's defences: a per-install token, loopback-only Host headers (against DNS
rebinding), same-origin WebSockets, and a strict Content-Security-Policy."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

TOKEN_COOKIE = "tray_agent_token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


def load_or_create_token(path: Path) -> str:
    """The install's API token, kept in a file only the user can read."""
    try:
        token = path.read_text().strip()
        if len(token) >= 32:
            os.chmod(path, 0o600)
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


def is_loopback_host(host_header: str | None) -> bool:
    if not host_header:
        return False
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(expected: str, request: Request) -> bool:
    given = ""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    elif TOKEN_COOKIE in request.cookies:
        given = request.cookies[TOKEN_COOKIE]
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries this install's token."""
    if not token_matches(request.app.state.token, request):
        raise HTTPException(status_code=401, detail="Missing or wrong API token.")
