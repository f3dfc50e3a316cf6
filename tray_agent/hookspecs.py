"""Every hook a Tray Agent plugin can implement. Each docstring is that hook's documentation.

A plugin is a module or class with functions decorated ``@tray_agent.hookimpl`` and named
after a hook below, published as a package with an entry point in group ``tray_agent``.
What a plugin imports comes from ``tray_agent`` itself (its ``__all__``: the channel
contract, rules, errors, call and notifier contracts), never from a module inside it; the
objects a hook is handed (``inbox``, ``event``, ``app``) are used, not imported.
Built-in features (the channels, the ``tel:`` call handler) are plugins of exactly this kind.
A hook that raises is logged and shown by ``tray-agent plugins`` and ``tray-agent doctor``;
the agent and the other plugins carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from fastapi import APIRouter

    from tray_agent.calls import CallHandler
    from tray_agent.channels import ChannelType
    from tray_agent.core.service import Inbox
    from tray_agent.core.views import EventView
    from tray_agent.notifiers import Notifier

hookspec = pluggy.HookspecMarker("tray_agent")
hookimpl = pluggy.HookimplMarker("tray_agent")


@hookspec
def register_channel_types(register: "Callable[[ChannelType], None]") -> None:
    """Register channel types by calling ``register(ChannelType(...))`` once for each.

    A ``ChannelType`` names the channel ("sms"), its label ("SMS"), its rules
    (``tray_agent.ChannelRules``: who may start, reply window, idle closure,
    file limits and retention), its icon as SVG markup, the settings and secrets it takes,
    and a factory that builds a ``ChannelAdapter`` for each channel the user configures.
    Names must be unique across plugins; a second registration of a name is refused and
    reported as that plugin's error.
    """


@hookspec
def register_call_handlers(register: "Callable[[CallHandler], None]") -> None:
    """Register ways to elevate a conversation to a phone call: ``register(handler)``.

    A ``tray_agent.CallHandler`` has a ``name``, a ``label``, ``available()`` (can
    it work on this machine now?) and ``call(number, agent_extension)`` which starts the
    call to an E.164 number and returns a ``CallResult`` (started, detail, call_id,
    outcome), or raises ``TrayAgentError`` with the reason, which is recorded and shown as a
    failed call. Optional: ``status()`` (one line: why it is or is not available, for
    ``doctor`` and the call dialog), ``settings``/``secrets`` (name → description) and
    ``configure(setup)``, called once with a ``tray_agent.HandlerSetup``: the
    ``[calls.<name>]`` settings (each overridden by ``TRAY_AGENT_CALLS_<NAME>_<SETTING>``)
    and ``setup.secret(name)`` from the OS keyring. The built-in handler opens a ``tel:``,
    ``sip:`` or ``callto:`` URI with the operating system's handler; a PBX plugin
    (``tray-agent-yeastar``) dials out click-to-call.
    """


@hookspec
def register_notifiers(register: "Callable[[Notifier], None]") -> None:
    """Register desktop notification back-ends: ``register(notifier)``.

    A ``tray_agent.Notifier`` has a ``name``, ``available()`` and
    ``notify(title, body, sound, conversation_id)``. The daemon uses the first available one.
    """


@hookspec
def inbox_event(event: "EventView", inbox: "Inbox") -> None:
    """Called after each inbox change has been committed, in sequence order.

    ``event`` is the committed event (``type`` such as ``message.created``,
    ``conversation.transferred``; ``seq``; ``conversation_id``; ``message_id``; ``data``).
    Use ``inbox`` (the service layer) to act on it, e.g. an auto-reply or a CRM sync.
    Runs off the request path; raising here never undoes the change.
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add commands to the ``tray-agent`` command line: ``@cli.command()`` inside this hook."""


@hookspec
def register_routes(router: "APIRouter", inbox: "Inbox") -> None:
    """Add endpoints to the local API under ``/plugins/``; they get the same token check."""


@hookspec
def agent_started(app: Any) -> None:
    """Called once the agent's store, channels and API are up (``app`` is ``tray_agent.app.App``)."""
