"""``tray-agent server channel ...``: the team's channels from the server's console, through
``Administration`` as the admin view does (each change audited). Credentials are prompted
for hidden and stored in the server's keyring, or named to be read from the environment.
"""

from __future__ import annotations

import os
from typing import Any

import click

from tray_agent import credentials
from tray_agent.cli import emit
from tray_agent.cli.channels import _pairs
from tray_agent.cli.server import ServerCtx, pass_server, server
from tray_agent.core.errors import InvalidInput


@server.group("channel")
def channel_group() -> None:
    """The team's channels: kinds, list, add, and change (enable, routing, auto-closure, credentials)."""


@channel_group.command("types")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def channel_types(sc: ServerCtx, as_json: bool) -> None:
    """The channel kinds this server's plugins provide, with their settings and credentials."""
    types = sc.admin.channel_types()
    emit(types, as_json, "\n".join(
        f"{t.kind}\t{t.label}\tsettings: {', '.join(t.settings) or 'none'}\tcredentials: "
        + (", ".join(k + (" (optional)" if k in t.optional_secrets else "") for k in t.secrets) or "none")
        for t in types) or "No channel plugins are installed.")


@channel_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def channel_list(sc: ServerCtx, as_json: bool) -> None:
    """Every channel, disabled ones too, with where each credential comes from (never its value)."""
    channels = sc.admin.list_channels()
    emit(channels, as_json, "\n".join(_line(sc, ch) for ch in channels) or "No channels.")


_CREDENTIAL_OPTIONS = [
    click.option("--credential", "prompted", multiple=True, metavar="NAME",
                 help="A credential to store in the server's keyring: its value is asked for, hidden (repeatable)."),
    click.option("--from-env", "from_env", multiple=True, metavar="NAME",
                 help="A credential the server reads from TRAY_AGENT_SECRET_<CHANNEL>_<NAME> (repeatable)."),
]


def _credential_options(f: Any) -> Any:
    for option in reversed(_CREDENTIAL_OPTIONS):
        f = option(f)
    return f


@channel_group.command("add")
@click.argument("kind")
@click.option("--name", required=True, help="The channel's name (agents see it).")
@click.option("--address", required=True, help="The business number (or address) customers see.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A channel setting (repeatable).")
@_credential_options
@click.option("--no-prompt", is_flag=True, help="Fail instead of asking for the credentials not named.")
@click.option("--route-queue", type=int, default=None, metavar="ID", help="New conversations go to this queue.")
@click.option("--route-agent", type=int, default=None, metavar="ID", help="New conversations go to this agent.")
@click.option("--auto-close-hours", default=None, metavar="H",
              help="Close idle conversations after H hours (where the channel's rules allow it).")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def channel_add(sc: ServerCtx, kind: str, name: str, address: str, settings: tuple[str, ...],
                prompted: tuple[str, ...], from_env: tuple[str, ...], no_prompt: bool, route_queue: int | None,
                route_agent: int | None, auto_close_hours: str | None, as_json: bool) -> None:
    """Add a channel of KIND (`server channel types` lists them); missing credentials are
    asked for, hidden, unless their environment variable is set."""
    from tray_agent.server.administration import CredentialInput

    if route_queue is not None and route_agent is not None:
        raise InvalidInput("Route new conversations to a queue or to an agent, not both.")
    # What can be refused is checked before a credential is asked for.
    values = _pairs(settings, "--set")
    hours = _hours(auto_close_hours) if auto_close_hours is not None else None
    ctype = sc.app.inbox.channel_types.get(kind)
    # An unknown kind: nothing is asked for, Administration says which kinds there are.
    given = _given(prompted, from_env, ctype) if ctype is not None else {}
    for key, description in (ctype.secrets.items() if ctype else ()):
        if key in given or key in ctype.optional_secrets:
            continue
        if os.environ.get(credentials.env_name(name, key)):
            given[key] = CredentialInput(source="environment")
        elif not no_prompt:
            given[key] = CredentialInput(source="keyring", value=_ask(key, description))
    ch = sc.admin.add_channel(sc.actor, kind, name, address, values, given,
                              route_agent_id=route_agent, route_queue_id=route_queue, auto_close_seconds=hours)
    emit(ch, as_json, f"Added: {_line(sc, ch)}")


@channel_group.command("set")
@click.argument("channel_id", type=int)
@click.option("--enable/--disable", "enabled", default=None, help="Run the channel, or stop it (its conversations stay).")
@click.option("--route-queue", type=int, default=None, metavar="ID", help="New conversations go to this queue.")
@click.option("--route-agent", type=int, default=None, metavar="ID", help="New conversations go to this agent.")
@click.option("--no-route", is_flag=True, help="New conversations go to no queue or agent.")
@click.option("--auto-close-hours", default=None, metavar="H|off",
              help="Close idle conversations after H hours, or never (where the channel's rules allow it).")
@_credential_options
@click.option("--json", "as_json", is_flag=True)
@pass_server
def channel_set(sc: ServerCtx, channel_id: int, enabled: bool | None, route_queue: int | None,
                route_agent: int | None, no_route: bool, auto_close_hours: str | None, prompted: tuple[str, ...],
                from_env: tuple[str, ...], as_json: bool) -> None:
    """Change channel CHANNEL_ID: enable or disable it, route it, set its auto-closure,
    replace credentials."""
    if sum((route_queue is not None, route_agent is not None, no_route)) > 1:
        raise InvalidInput("Give one of --route-queue, --route-agent or --no-route.")
    ch = sc.app.inbox.get_channel(channel_id)
    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["enabled"] = enabled
    if route_queue is not None or route_agent is not None or no_route:
        # One route at a time, as the admin view sets it: the other is cleared.
        changes["route_queue_id"], changes["route_agent_id"] = route_queue, route_agent
    if auto_close_hours is not None:
        off = auto_close_hours.strip().lower() in ("off", "never", "none")
        changes["auto_close_seconds"] = None if off else _hours(auto_close_hours)
    given = _given(prompted, from_env, sc.app.inbox.channel_types.get(ch.kind))
    view = sc.admin.update_channel(sc.actor, channel_id, changes, given)
    emit(view, as_json, f"Changed: {_line(sc, view)}")


@channel_group.command("remove")
@click.argument("channel_id", type=int)
@click.option("--force", is_flag=True, help="Stop it even while it has open conversations (they stay open and "
              "readable; replies on them are refused).")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def channel_remove(sc: ServerCtx, channel_id: int, force: bool, as_json: bool) -> None:
    """Take channel CHANNEL_ID out of service. A channel that never carried a conversation
    is deleted. One that did is kept, disabled: its conversations stay readable on every
    desktop, nothing of a customer's history is lost, and nothing is sent or received on
    it. While it has open conversations it is refused (close or transfer them first) unless
    --force. Its credentials are deleted from this server's keyring (to use it again:
    `server channel set ID --enable --credential NAME`). Audited as channel.removed."""
    done = sc.admin.remove_channel(sc.actor, channel_id, force=force)
    if done.deleted:
        line = f"Removed: {done.id}\t{done.name} (it had no conversations)"
    else:
        line = (f"Stopped: {done.id}\t{done.name} is disabled; its {done.conversations} conversation"
                f"{'s stay' if done.conversations != 1 else ' stays'} readable"
                + (f" ({done.open} still open: replies are refused)" if done.open else ""))
    emit(done, as_json, line)


# -- helpers -------------------------------------------------------------------------------


def _given(prompted: tuple[str, ...], from_env: tuple[str, ...], ctype: Any) -> dict[str, Any]:
    """The credentials named on the command line: asked for (hidden) or read from the environment.
    Unknown names are refused (by ``Administration``) before anything is asked."""
    from tray_agent.server.administration import CredentialInput

    both = sorted(set(prompted) & set(from_env))
    if both:
        raise InvalidInput(f"{', '.join(both)}: give it with --credential or read it with --from-env, not both.")
    takes = dict(ctype.secrets) if ctype is not None else {}
    bad = sorted((set(prompted) | set(from_env)) - set(takes))
    if bad and ctype is not None:
        raise InvalidInput(f"{ctype.label} takes no credential {', '.join(bad)} (it takes: {', '.join(takes) or 'none'}).")
    given: dict[str, Any] = {key: CredentialInput(source="environment") for key in from_env}
    for key in prompted:
        given[key] = CredentialInput(source="keyring", value=_ask(key, takes.get(key, "")))
    return given


def _ask(key: str, description: str) -> str:
    # Hidden and never echoed back: the value goes to the keyring only. The question goes to
    # stderr, so --json output stays one document.
    return str(click.prompt(f"{key} ({description})" if description else key, hide_input=True, err=True))


def _hours(raw: str) -> int:
    try:
        hours = float(raw.strip())
    except ValueError:
        hours = 0.0
    if not hours * 3600 >= 60 or hours == float("inf"):
        raise InvalidInput(f"--auto-close-hours is a number of hours (at least a minute's worth) or off, not {raw!r}.")
    return int(round(hours * 3600))


def _line(sc: ServerCtx, ch: Any) -> str:
    """One channel on one line: its route, auto-closure and where each credential comes from."""
    if ch.route_queue_id:
        route = next((f"queue {q.name} ({q.id})" for q in sc.app.inbox.list_queues() if q.id == ch.route_queue_id),
                     f"queue {ch.route_queue_id}")
    elif ch.route_agent_id:
        route = next((f"agent {a.name} ({a.id})" for a in sc.app.inbox.list_agents() if a.id == ch.route_agent_id),
                     f"agent {ch.route_agent_id}")
    else:
        route = "no queue or agent"
    own = ch.rules.get("auto_close_after_seconds")
    closes = ch.auto_close_seconds or own
    closure = (f"idle close after {closes / 3600:g} h" if closes else "no idle close") + (
        "" if ch.rules.get("auto_close_configurable") else " (the channel's own rule)")
    creds = ", ".join(f"{c.name}: {c.source}" + (f" ({c.env})" if c.source != "keyring" else "")
                      for c in ch.credentials) or "no credentials"
    state = "enabled" if ch.enabled else "disabled"
    return (f"{ch.id}\t{ch.name}\t{ch.label} {ch.business_address}\t{state}\t-> {route}\t{closure}\t{creds}")
