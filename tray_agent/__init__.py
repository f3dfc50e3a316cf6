"""Tray Agent: one desktop inbox for customer conversations on every messaging channel."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``from tray_agent import hookimpl`` for plugin authors, without importing pluggy
    # for every `import tray_agent`.
    if name == "hookimpl":
        from tray_agent.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'tray_agent' has no attribute {name!r}")
