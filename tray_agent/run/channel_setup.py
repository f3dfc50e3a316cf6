"""Setting up the agent's channels before the runner starts them: configured channels
from the TOML file, or the local provider sandbox when none is configured.

``[channels]`` in the config is the truth for the channels it names: they are created or
updated in the store by name, and one removed from the file is disabled (or deleted if it
never carried a conversation). Channels made elsewhere (the API, tests) are left alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tray_agent.core.errors import TrayAgentError

if TYPE_CHECKING:
    from tray_agent.app import App

log = logging.getLogger(__name__)

#: Settings key saying where a channel came from: "config" (the TOML) or "sandbox".
SOURCE = "source"


def prepare(app: "App") -> bool:
    """Bring the store's channels in line before any adapter is built: ``[channels]`` from
    the config file, then the sandbox choice. Returns whether the sandbox should run (when
    not, the channels it made on an earlier run are disabled)."""
    sync_config_channels(app)
    if wants_sandbox(app):
        return True
    disable_sandbox_channels(app)
    return False


def wants_sandbox(app: "App") -> bool:
    """"on" always; "auto" while no real channel is configured (in the file or the store)."""
    mode = (app.config.sandbox.mode or "auto").lower()
    if mode == "on":
        return True
    if mode != "auto" or app.config.channels:
        return False
    real = [c for c in app.inbox.list_channels() if (c.settings or {}).get(SOURCE) != "sandbox"]
    return not real


def disable_sandbox_channels(app: "App") -> None:
    for ch in app.inbox.list_channels():
        if (ch.settings or {}).get(SOURCE) == "sandbox":
            app.inbox.update_channel(ch.id, enabled=False)


def sync_config_channels(app: "App") -> None:
    """Make the store's channels match ``[channels]`` in the config file, by name. A bad
    entry is logged in one line and skipped; the others still come up."""
    specs: dict[str, Any] = app.config.channels or {}
    existing = {c.name: c for c in app.inbox.list_channels(include_disabled=True)}
    for name, spec in specs.items():
        try:
            _sync_one(app, name, spec, existing.get(name))
        except (TrayAgentError, KeyError, TypeError, ValueError) as exc:
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.warning("channel %r in %s was not set up: %s", name, app.config.path, reason)
    for name, ch in existing.items():
        if name not in specs and ch.enabled and (ch.settings or {}).get(SOURCE) == "config":
            deleted = app.inbox.remove_channel(ch.id)
            log.info("channel %r is no longer in the config file; %s", name,
                     "deleted" if deleted else "disabled (its conversations are kept)")


def _sync_one(app: "App", name: str, spec: Any, ch: Any) -> None:
    if not isinstance(spec, dict) or not spec.get("kind"):
        raise ValueError("each channel needs a table with at least kind = \"...\"")
    kind = str(spec["kind"])
    ctype = app.channel_types.get(kind)
    settings = {**dict(spec.get("settings") or {}), SOURCE: "config"}
    address = str(spec.get("business_address") or (settings.get(ctype.business_address_setting) if ctype else "") or "")
    auto_close = spec.get("auto_close_seconds")
    if ch is None:
        if not address:
            raise ValueError("business_address is missing")
        app.inbox.add_channel(kind, name, address, settings,
                              auto_close_seconds=int(auto_close) if auto_close is not None else None)
        return
    if ch.kind != kind:
        raise ValueError(f"a {ch.kind} channel of that name exists already; give this one another name")
    changes: dict[str, Any] = {}
    if dict(ch.settings or {}) != settings:
        changes["settings"] = settings
    if address and address != ch.business_address:
        changes["business_address"] = address
    if not ch.enabled:
        changes["enabled"] = True
    if auto_close is not None and int(auto_close) != ch.auto_close_seconds:
        changes["auto_close_seconds"] = int(auto_close)
    if changes:
        app.inbox.update_channel(ch.id, **changes)
