"""Setting calls up from the command line: a call handler's settings and credentials
(``call-handler set``), and an agent's own PBX extension (``agent extension``)."""

from __future__ import annotations

import click

from tray_agent import credentials
from tray_agent.calls import availability, secret_scope, setup_for
from tray_agent.cli import Ctx, cli, emit, pass_ctx
from tray_agent.cli.admin import agent_group
from tray_agent.cli.channels import _pairs
from tray_agent.core.errors import InvalidInput, NotFound, TrayAgentError


@cli.group("call-handler")
def call_handler_group() -> None:
    """Ways to call customers (the system's tel: handler, a PBX plugin)."""


@call_handler_group.command("set")
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A setting (repeatable).")
@click.option("--secret", "secret_values", multiple=True, metavar="NAME=VALUE",
              help="A credential (repeatable); missing ones are asked for, hidden.")
@click.option("--default", "make_default", is_flag=True, help="Call through this handler from now on.")
@click.option("--no-prompt", is_flag=True, help="Fail instead of asking for missing credentials.")
@pass_ctx
def call_handler_set(c: Ctx, name: str, settings: tuple[str, ...], secret_values: tuple[str, ...],
                     make_default: bool, no_prompt: bool) -> None:
    """Set up call handler NAME: settings into config.toml, credentials into the keyring."""
    app = c.app
    handler = app.call_handlers.get(name)
    if handler is None:
        raise NotFound(f"There is no call handler {name!r}; installed: {', '.join(app.call_handlers) or 'none'}.")
    takes, needs = dict(getattr(handler, "settings", {}) or {}), dict(getattr(handler, "secrets", {}) or {})
    values = _pairs(settings, "--set")
    if unknown := sorted(set(values) - set(takes)):
        raise InvalidInput(f"{handler.label} has no setting {', '.join(unknown)} (it takes: {', '.join(takes) or 'none'}).")
    given = _pairs(secret_values, "--secret")
    if bad := sorted(set(given) - set(needs)):
        raise InvalidInput(f"{handler.label} takes no credential {', '.join(bad)} (it takes: {', '.join(needs) or 'none'}).")
    scope = secret_scope(name)
    for key, description in needs.items():
        if key in given or credentials.get(scope, key):
            continue
        if no_prompt:
            raise InvalidInput(f"The credential {key} is missing: pass --secret {key}=… "
                               f"or set {credentials.env_name(scope, key)}.")
        given[key] = click.prompt(f"{key} ({description})", hide_input=True)
    for key, value in given.items():
        credentials.put(scope, key, value)
    table = {**app.config.calls.handlers.get(name, {}), **values}
    app.config.calls.handlers[name] = table
    if make_default:
        app.config.calls.handler = name
    app.config.save()
    if callable(configure := getattr(handler, "configure", None)):
        try:
            configure(setup_for(handler, table))
        except TrayAgentError as exc:
            raise InvalidInput(f"Saved, but {name} refuses its set-up: {exc.message}") from None
    ok, why = availability(handler)
    click.echo(f"call handler {name}: {'ready' if ok else 'NOT READY'}" + (f" — {why}" if why else "")
               + (f"; credentials stored: {', '.join(given)}" if given else ""))


@agent_group.command("extension")
@click.argument("extension", required=False)
@click.option("--agent", "agent_id", type=int, default=None, help="Another agent's id (default: you).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def agent_extension(c: Ctx, extension: str | None, agent_id: int | None, as_json: bool) -> None:
    """Set the PBX extension click-to-call rings first (no EXTENSION: clear it)."""
    who = agent_id if agent_id is not None else c.agent_id
    ext = c.app.inbox.set_agent_extension(who, extension)
    emit({"agent_id": who, "extension": ext}, as_json,
         f"agent {who}: extension {ext}" if ext else f"agent {who}: no extension")
