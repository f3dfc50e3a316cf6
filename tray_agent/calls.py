"""Elevate to a call: the contract for call handlers (the OS ``tel:`` handler, a PBX, ...)
and the set-up a handler reads (its settings in config, its credentials in the keyring)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Protocol

from tray_agent import credentials


@dataclass(frozen=True)
class CallResult:
    started: bool
    #: One line for the history ("Opened tel:+1555… with the system's call handler").
    detail: str
    #: The handler's own reference for the call, if it has one (a PBX call id).
    call_id: str | None = None
    #: What the handler knows of the call past its start ("ringing extension 1005"), if anything.
    outcome: str | None = None


class CallHandler(Protocol):
    """A way to place a call (registered via ``register_call_handlers``): the optional
    extras (``status``, ``settings``, ``secrets``, ``configure``) are in hookspecs.py."""

    name: str
    label: str

    def available(self) -> bool:
        """Can this handler place a call on this machine right now?"""
        ...

    def call(self, number: str, agent_extension: str | None) -> CallResult:
        """Start a call to the E.164 ``number``. ``agent_extension`` is the calling agent's
        own extension when one is set (a PBX rings it first), else None. Raise
        TrayAgentError with a one-line reason."""
        ...


@dataclass(frozen=True)
class HandlerSetup:
    """What the user configured for one call handler, handed to its ``configure(setup)``.

    Settings come from ``[calls.<handler>]`` in config.toml, each overridden by
    ``TRAY_AGENT_CALLS_<HANDLER>_<NAME>``; credentials from the OS keyring (or
    ``TRAY_AGENT_SECRET_CALLS_<HANDLER>_<NAME>``), never from the config file.
    """

    handler: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def setting(self, name: str, default: str = "") -> str:
        value = self.settings.get(name)
        return default if value in (None, "") else str(value)

    def secret(self, name: str) -> str | None:
        return credentials.get(secret_scope(self.handler), name)


def secret_scope(handler: str) -> str:
    """The keyring scope of a handler's credentials (channels use their own names)."""
    return f"calls.{handler}"


def setting_env_name(handler: str, name: str) -> str:
    return "TRAY_AGENT_CALLS_" + re.sub(r"[^A-Z0-9]+", "_", f"{handler}_{name}".upper()).strip("_")


def setup_for(handler: Any, configured: Mapping[str, Any],
              environ: Mapping[str, str] | None = None) -> HandlerSetup:
    """The set-up of ``handler`` from its config table, with the environment over it for
    each setting the handler declares (``handler.settings``: name → description)."""
    env = os.environ if environ is None else environ
    values = dict(configured)
    for name in getattr(handler, "settings", {}) or {}:
        if (v := env.get(setting_env_name(handler.name, name))) is not None:
            values[name] = v
    return HandlerSetup(handler.name, values)


def availability(handler: Any) -> tuple[bool, str]:
    """Whether a handler can call now and, when it says, why (``handler.status()``)."""
    ok = bool(handler.available())
    status = getattr(handler, "status", None)
    return ok, (status() if callable(status) else "")
