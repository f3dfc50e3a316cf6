"""Configuration: one TOML file in the user's config dir; every setting has one name there
and one matching environment variable (``[api] port`` ↔ ``TRAY_AGENT_API_PORT``).

Defaults work with no set-up: SQLite in the data dir, the API on a free loopback port, and
the local provider sandbox when no channel is configured.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from tray_agent.core.errors import InvalidInput
from tray_agent.paths import Paths

ENV_PREFIX = "TRAY_AGENT_"


@dataclass
class AgentSection:
    name: str = field(default_factory=lambda: _user())
    email: str = field(default_factory=lambda: f"{_user()}@localhost")


@dataclass
class DatabaseSection:
    #: SQLAlchemy URL; empty means the SQLite file in the data dir.
    url: str = ""


@dataclass
class ApiSection:
    host: str = "127.0.0.1"
    #: 0 picks a free port.
    port: int = 0
    #: The base URL providers reach the webhooks at (a tunnel or reverse proxy); empty =
    #: the API's own loopback address.
    public_url: str = ""


@dataclass
class SandboxSection:
    #: "auto": run the local provider sandbox when no channel is configured; "on"; "off".
    mode: str = "auto"
    port: int = 0


@dataclass
class CallsSection:
    #: Call handler to use by name; empty = the first available one.
    handler: str = ""


@dataclass
class ServerSection:
    """``tray-agent server``: the team server (PostgreSQL only)."""

    #: SQLAlchemy URL of the team's PostgreSQL database (postgresql://user@host/db).
    database: str = ""
    #: host:port to listen on; behind a reverse proxy keep it on loopback.
    listen: str = "127.0.0.1:8700"
    #: The base URL providers and desktops reach the server at (the proxy's); empty = own.
    public_url: str = ""
    #: PEM certificate chain and key to serve TLS directly (both, or neither).
    cert: str = ""
    key: str = ""


@dataclass
class LogSection:
    level: str = "INFO"


@dataclass
class Config:
    agent: AgentSection = field(default_factory=AgentSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    api: ApiSection = field(default_factory=ApiSection)
    sandbox: SandboxSection = field(default_factory=SandboxSection)
    calls: CallsSection = field(default_factory=CallsSection)
    server: ServerSection = field(default_factory=ServerSection)
    log: LogSection = field(default_factory=LogSection)
    #: Configured channels by name: {"kind": ..., "business_address": ..., "settings": {...}}.
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    def database_url(self, paths: Paths) -> str:
        return self.database.url or f"sqlite:///{paths.database}"

    def save(self) -> None:
        """Write the file back (only the sections, never secrets: those live in the keyring)."""
        if self.path is None:
            raise ValueError("This configuration has no file")
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("path",):
                continue
            value = getattr(self, f.name)
            data[f.name] = value if isinstance(value, dict) else {k.name: getattr(value, k.name) for k in fields(value)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(_drop_none(data)))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


def load(paths: Paths, environ: dict[str, str] | None = None) -> Config:
    """The configuration in force: the TOML file, then environment variables over it."""
    env = os.environ if environ is None else environ
    cfg = Config(path=paths.config_file)
    raw: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            raw = tomllib.loads(paths.config_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{paths.config_file} is not valid TOML: {exc}") from None
    for f in fields(cfg):
        if f.name == "path":
            continue
        if f.name == "channels":
            chans = raw.get("channels", {})
            if not isinstance(chans, dict):
                raise InvalidInput(f"{paths.config_file}: [channels] must be a table of channels.")
            cfg.channels = chans
            continue
        section = getattr(cfg, f.name)
        given = raw.get(f.name, {})
        for k in fields(section):
            value = given.get(k.name, getattr(section, k.name))
            env_value = env.get(f"{ENV_PREFIX}{f.name.upper()}_{k.name.upper()}")
            if env_value is not None:
                value = env_value
            setattr(section, k.name, _coerce(value, type(getattr(section, k.name)), f"{f.name}.{k.name}"))
    return cfg


def _coerce(value: Any, kind: type, name: str) -> Any:
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"Setting {name} must be a whole number, not {value!r}.") from None
    if kind is bool:
        return str(value).lower() in ("1", "true", "yes", "on")
    return str(value)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "agent"
