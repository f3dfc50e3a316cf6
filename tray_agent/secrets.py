"""Channel credentials: the OS keyring, with an environment-variable override for servers
and CI (``TRAY_AGENT_SECRET_<CHANNEL>_<NAME>``), and values held in this process's memory
only (the auto-started sandbox's fake credentials: not the environment, which child
processes inherit and which must not change once GUI threads read it). Never written to
the config file or logs."""

from __future__ import annotations

import os
import re

SERVICE = "tray-agent"


def env_name(channel: str, name: str) -> str:
    return "TRAY_AGENT_SECRET_" + re.sub(r"[^A-Z0-9]+", "_", f"{channel}_{name}".upper()).strip("_")


_held: dict[str, str] = {}


def hold(channel: str, name: str, value: str) -> None:
    """Keep a credential in memory for this process only (see the module's docstring)."""
    _held[env_name(channel, name)] = value


def release(channel: str, name: str) -> None:
    _held.pop(env_name(channel, name), None)


def get(channel: str, name: str) -> str | None:
    value = _held.get(env_name(channel, name)) or os.environ.get(env_name(channel, name))
    if value:
        return value
    try:
        import keyring

        return keyring.get_password(SERVICE, f"{channel}:{name}")
    except Exception:  # no keyring back-end on this machine: treat as not set
        return None


def put(channel: str, name: str, value: str) -> None:
    """Store a credential in the OS keyring; raises with a one-line reason if there is none."""
    import keyring
    from keyring.errors import KeyringError

    from tray_agent.core.errors import TrayAgentError

    try:
        keyring.set_password(SERVICE, f"{channel}:{name}", value)
    except KeyringError as exc:
        raise TrayAgentError(
            f"No OS keyring is available to store {name} ({exc}); set {env_name(channel, name)} instead."
        ) from None


def delete(channel: str, name: str) -> None:
    try:
        import keyring

        keyring.delete_password(SERVICE, f"{channel}:{name}")
    except Exception:
        pass
