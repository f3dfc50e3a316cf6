"""Tray Agent: one desktop inbox for customer conversations on every messaging channel.

This package is also the plugin authors' one import: ``from tray_agent import hookimpl,
ChannelType, ChannelRules, ProviderError, ...`` (``__all__``). Where a name is defined
inside is ours to move; the names are loaded on first use, so ``import tray_agent`` stays
cheap for the idle daemon.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers and editors see; _SURFACE is what runs
    from tray_agent.calls import CallHandler, CallResult, HandlerSetup
    from tray_agent.channels import (
        DEFAULT_WEBHOOK_BODY_BYTES, ChannelAdapter, ChannelConfig, ChannelContext, ChannelType,
        Health, InboundFile, InboundMessage, OutboundFile, OutboundMessage, SendResult,
        StatusUpdate, WebhookRoute, report_problem, tls_context,
    )
    from tray_agent.core.errors import (
        CallFailed, Conflict, FileTooLarge, Forbidden, InvalidInput, NotFound, ProviderError,
        RuleViolation, StorageUnavailable, TrayAgentError,
    )
    from tray_agent.core.rules import (
        DEFAULT_FILE_RETENTION, MB, PRODUCT_MAX_FILE_BYTES, AddressKind, ChannelRules,
    )
    from tray_agent.hookspecs import hookimpl
    from tray_agent.notifiers import ActivateCallback, Notifier

#: Where each public name is defined: module → names.
_SURFACE: dict[str, tuple[str, ...]] = {
    "tray_agent.hookspecs": ("hookimpl",),
    # A channel plugin: its type, the adapter's contract and the data it exchanges.
    "tray_agent.channels": (
        "ChannelType", "ChannelAdapter", "ChannelConfig", "ChannelContext", "InboundMessage",
        "InboundFile", "StatusUpdate", "OutboundMessage", "OutboundFile", "SendResult",
        "Health", "WebhookRoute", "DEFAULT_WEBHOOK_BODY_BYTES", "report_problem", "tls_context",
    ),
    # Its rules and the limits they are written in.
    "tray_agent.core.rules": (
        "ChannelRules", "AddressKind", "MB", "PRODUCT_MAX_FILE_BYTES", "DEFAULT_FILE_RETENTION",
    ),
    # The errors a plugin raises; each message is one line for the user.
    "tray_agent.core.errors": (
        "TrayAgentError", "InvalidInput", "NotFound", "Forbidden", "Conflict", "RuleViolation",
        "FileTooLarge", "StorageUnavailable", "ProviderError", "CallFailed",
    ),
    "tray_agent.calls": ("CallHandler", "CallResult", "HandlerSetup"),
    "tray_agent.notifiers": ("Notifier", "ActivateCallback"),
}
_HOME = {name: module for module, names in _SURFACE.items() for name in names}

# Spelled out for linters and type checkers, which do not run code; a test keeps the three
# lists (this, the TYPE_CHECKING imports and _SURFACE) the same.
__all__ = [
    "__version__", "hookimpl",
    "ChannelType", "ChannelAdapter", "ChannelConfig", "ChannelContext", "InboundMessage",
    "InboundFile", "StatusUpdate", "OutboundMessage", "OutboundFile", "SendResult", "Health",
    "WebhookRoute", "DEFAULT_WEBHOOK_BODY_BYTES", "report_problem", "tls_context",
    "ChannelRules", "AddressKind", "MB", "PRODUCT_MAX_FILE_BYTES", "DEFAULT_FILE_RETENTION",
    "TrayAgentError", "InvalidInput", "NotFound", "Forbidden", "Conflict", "RuleViolation",
    "FileTooLarge", "StorageUnavailable", "ProviderError", "CallFailed",
    "CallHandler", "CallResult", "HandlerSetup",
    "Notifier", "ActivateCallback",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'tray_agent' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
