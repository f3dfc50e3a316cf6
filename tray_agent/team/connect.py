"""Signing this desktop in to a team server and out again. ``connect`` trades the one-time
code for a device token (kept in the OS keyring, never in the config or logs), writes the
server's URL (and CA) to the config and starts a fresh cache; ``disconnect`` forgets the
token and the cache: the single-desktop store was never touched."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tray_agent import credentials
from tray_agent.config import Config
from tray_agent.core.errors import InvalidInput, TrayAgentError
from tray_agent.paths import Paths
from tray_agent.team.link import TIMEOUT, Refused, Unreachable, answer, explain, tls_context, token_key


def check_urls(server: str) -> list[str]:
    urls = [u.strip().rstrip("/") for u in server.split(",") if u.strip()]
    if not urls:
        raise InvalidInput("Give the team server's address, e.g. https://team.example.com.")
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InvalidInput(f"{u!r} is not a server address; use https://host[:port].")
    return urls


def sign_in(urls: list[str], code: str, device_name: str, ca: str | None) -> dict[str, Any]:
    """POST /sync/v1/sign-in on the first server that answers; its answer (token, agent, ...)."""
    verify = tls_context(ca)
    error = ""
    for url in urls:
        try:
            with httpx.Client(base_url=url, verify=verify, timeout=TIMEOUT) as c:
                r = c.post("/sync/v1/sign-in", json={"code": code.strip(), "device_name": device_name})
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            error = explain(exc, url)
            if "not trusted" in error:
                raise TrayAgentError(error) from None  # another replica would not trust it either
            continue
        try:
            return dict(answer(r))
        except Refused as exc:
            raise TrayAgentError(f"The team server refused the sign-in: {exc.message}") from None
    raise Unreachable(error)


def connect(paths: Paths, cfg: Config, server: str, code: str, *, ca: str | None = None,
            device_name: str) -> dict[str, Any]:
    """Sign in, keep the token, point the config at the server, start an empty cache with
    the signed-in agent in it. Returns the sign-in's agent and device."""
    urls = check_urls(server)
    ca_path = str(Path(ca).expanduser().resolve()) if ca else ""
    if ca_path and not Path(ca_path).is_file():
        raise InvalidInput(f"The CA file {ca} does not exist.")
    if why := credentials.unwritable():  # before the one-time code is spent on a token we could not keep
        raise TrayAgentError(f"This computer's OS keyring cannot keep the device token ({why}); unlock or "
                             "install one (e.g. gnome-keyring) and connect again: the sign-in code is still valid.")
    result = sign_in(urls, code, device_name, ca_path or None)
    credentials.put(*token_key(paths.config), str(result["token"]))
    _forget_cache(paths)
    cfg.team.server, cfg.team.ca = ",".join(urls), ca_path
    cfg.save()
    from tray_agent.core.db import Database
    from tray_agent.core.mirror_models import TeamState
    from tray_agent.core.models import Agent

    db = Database.for_file(paths.team_cache)
    try:
        db.migrate()
        agent = result["agent"]
        with db.write() as s:
            s.add(Agent(id=agent["id"], name=agent["name"], email=agent.get("email"), role=agent.get("role", "agent"),
                        settings={}))
            s.add(TeamState(id=1, server=",".join(urls), agent_id=agent["id"], cursor=""))
    finally:
        db.dispose()
    return {"server": urls[0], "agent": result["agent"], "device": result.get("device")}


def disconnect(paths: Paths, cfg: Config) -> bool:
    """Back to single-desktop mode; False when this desktop was not connected."""
    was = cfg.team_mode
    credentials.delete(*token_key(paths.config))
    cfg.team.server, cfg.team.ca = "", ""
    if cfg.path is not None and (was or cfg.path.exists()):
        cfg.save()
    _forget_cache(paths)
    return was


def _forget_cache(paths: Paths) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{paths.team_cache}{suffix}").unlink(missing_ok=True)
