"""Configuration: one TOML file in the user's config dir; every setting has one name there
and one matching environment variable (``[api] port`` ↔ ``TRAY_AGENT_API_PORT``), typed by
the dataclasses below and checked at load: a misspelt name or a wrong value is one line.

Defaults work with no set-up: SQLite in the data dir, the API on a free loopback port, and
the local provider sandbox when no channel is configured.
"""

from __future__ import annotations

import difflib
import getpass
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import tomli_w

from tray_agent.core.errors import InvalidInput
from tray_agent.paths import Paths

ENV_PREFIX = "TRAY_AGENT_"

SandboxMode = Literal["auto", "on", "off"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: What a ``[channels.<name>]`` table takes (its ``settings`` are the channel type's own).
CHANNEL_KEYS = ("kind", "business_address", "settings", "auto_close_seconds")


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
    mode: SandboxMode = "auto"
    port: int = 0


@dataclass
class CallsSection:
    #: Call handler to use by name; empty = the first available one.
    handler: str = ""
    #: The URI scheme the built-in handler opens, the one your softphone registers:
    #: "tel", "sip" or "callto".
    uri_scheme: str = "tel"
    #: Each handler's own settings, ``[calls.<handler>]`` (e.g. ``[calls.yeastar] pbx_url``);
    #: the handler declares them, and ``TRAY_AGENT_CALLS_<HANDLER>_<NAME>`` overrides each.
    handlers: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    #: Days of the event log kept for desktops to resume from; a desktop away longer is
    #: told ``must_resync`` and takes a new snapshot.
    keep_events_days: int = 30


@dataclass
class TeamSection:
    """Team mode: this desktop as a client of a team server (``tray-agent connect``)."""

    #: The team server's URL; several, comma-separated, are tried in turn. Empty: this
    #: desktop works alone (single-desktop mode).
    server: str = ""
    #: A PEM file with the CA that signed the server's certificate (a private CA); empty:
    #: the system's trusted CAs.
    ca: str = ""

    @property
    def servers(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.server.split(",") if u.strip()]


@dataclass
class LogSection:
    level: LogLevel = "INFO"


@dataclass
class Config:
    agent: AgentSection = field(default_factory=AgentSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    api: ApiSection = field(default_factory=ApiSection)
    sandbox: SandboxSection = field(default_factory=SandboxSection)
    calls: CallsSection = field(default_factory=CallsSection)
    server: ServerSection = field(default_factory=ServerSection)
    team: TeamSection = field(default_factory=TeamSection)
    log: LogSection = field(default_factory=LogSection)
    #: Configured channels by name: {"kind": ..., "business_address": ..., "settings": {...}}.
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    def database_url(self, paths: Paths) -> str:
        if self.database.url:
            return self.database.url
        # Team mode keeps its cache in a file of its own: the single-desktop store is never touched.
        return f"sqlite:///{paths.team_cache if self.team_mode else paths.database}"

    @property
    def team_mode(self) -> bool:
        return bool(self.team.servers)

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
        data["calls"] = {**data["calls"].pop("handlers"), **data["calls"]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(_drop_none(data)))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


def load(paths: Paths, environ: dict[str, str] | None = None) -> Config:
    """The configuration in force: the TOML file, then environment variables over it."""
    env = os.environ if environ is None else environ
    cfg = Config(path=paths.config_file)
    where = f"in {paths.config_file}"
    raw: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            raw = tomllib.loads(paths.config_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{paths.config_file} is not valid TOML: {exc}") from None
    sections = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in ("path", "channels")}
    _check_names(raw, sections, where)
    cfg.channels = raw.get("channels", {})
    for name, section in sections.items():
        given = raw.get(name, {})
        if name == "calls":
            section.handlers = {k: v for k, v in given.items() if isinstance(v, dict)}
        hints = get_type_hints(type(section))
        for k in fields(section):
            if k.name == "handlers":
                continue
            if k.name in given:
                setattr(section, k.name, _coerce(given[k.name], hints[k.name], f"{name}.{k.name}", where))
            var = f"{ENV_PREFIX}{name.upper()}_{k.name.upper()}"
            if var in env:
                setattr(section, k.name, _coerce(env[var], hints[k.name], f"{name}.{k.name}", f"from {var}"))
    return cfg


def _check_names(raw: dict[str, Any], sections: dict[str, Any], where: str) -> None:
    """Refuse a name the program does not read: a typo would otherwise silently do nothing."""
    known = {f"{s}.{k.name}" for s, section in sections.items() for k in fields(section) if k.name != "handlers"}
    for key, value in raw.items():
        if key == "channels":
            if not isinstance(value, dict):
                raise InvalidInput(f"[channels] {where} must be a table of channels.")
            for chan, spec in value.items():
                for k in spec if isinstance(spec, dict) else ():  # not a table: startup skips it, saying why
                    if k not in CHANNEL_KEYS:
                        raise InvalidInput(_unknown(f"channels.{_toml_key(chan)}.{k}", where, {
                            f"channels.{_toml_key(chan)}.{c}" for c in CHANNEL_KEYS}))
        elif key not in sections:
            if isinstance(value, dict):
                raise InvalidInput(_unknown(f"[{key}]", where, {f"[{s}]" for s in [*sections, "channels"]},
                                            what="section"))
            raise InvalidInput(_unknown(key, where, known, by_last_part=True))
        elif not isinstance(value, dict):
            raise InvalidInput(f"[{key}] {where} must be a table of settings, not {_shown(value)}.")
        else:
            for k, v in value.items():
                if f"{key}.{k}" not in known and not (key == "calls" and isinstance(v, dict)):
                    raise InvalidInput(_unknown(f"{key}.{k}", where, {n for n in known if n.startswith(f"{key}.")}))


def _unknown(name: str, where: str, candidates: set[str], *, what: str = "setting",
             by_last_part: bool = False) -> str:
    if by_last_part:  # a setting written outside its section: `port = 1` -> api.port or sandbox.port
        parts: dict[str, list[str]] = {}
        for c in sorted(candidates):
            parts.setdefault(c.rsplit(".", 1)[-1], []).append(c)
        close = [c for p in difflib.get_close_matches(name, list(parts), n=1) for c in parts[p]]
    else:
        close = difflib.get_close_matches(name, sorted(candidates), n=1)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(sorted(candidates))}."
    return f"Unknown {what} {name} {where}{hint}"


def _shown(value: Any) -> str:
    """A wrong value as the one-line error quotes it (a whole table would not fit a line)."""
    return "a table" if isinstance(value, dict) else "a list" if isinstance(value, list) else repr(value)


def _toml_key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() and name.isascii() else f'"{name}"'


def _coerce(value: Any, kind: Any, name: str, where: str) -> Any:
    if get_origin(kind) is Literal:
        allowed = [str(a) for a in get_args(kind)]
        # Case does not matter ("ON", "debug"); the value is stored as the type spells it.
        by_case = {a.lower(): a for a in allowed}
        got = str(value).strip().lower()
        if got in by_case:
            return by_case[got]
        close = difflib.get_close_matches(got, list(by_case), n=1)
        hint = f" (did you mean {by_case[close[0]]}?)" if close else ""
        raise InvalidInput(f"Setting {name} {where} is {value!r}; use one of {', '.join(allowed)}{hint}.")
    if isinstance(value, (dict, list)):
        raise InvalidInput(f"Setting {name} {where} takes one value, not {_shown(value)}.")
    if kind is int:
        try:
            if isinstance(value, (bool, float)):
                raise ValueError(value)  # TOML true or 1.5: never meant as a whole number
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"Setting {name} {where} must be a whole number, not {value!r}.") from None
    if kind is bool:
        flag = str(value).strip().lower()
        if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise InvalidInput(f"Setting {name} {where} must be true or false, not {value!r}.")
        return flag in ("1", "true", "yes", "on")
    return str(value)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "agent"
