"""``tray-agent connect`` and ``disconnect``: this desktop as a client of a team server,
or alone again (its own data untouched)."""

from __future__ import annotations

import socket

import click

from tray_agent.cli import Ctx, cli, emit, pass_ctx


@cli.command("connect")
@click.argument("server")
@click.option("--code", default=None, help="The one-time sign-in code (asked for when not given).")
@click.option("--ca", type=click.Path(dir_okay=False), default=None,
              help="PEM file of a private CA that signed the server's certificate.")
@click.option("--device-name", default=None, help="How the server lists this desktop (default: the host name).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def connect_cmd(c: Ctx, server: str, code: str | None, ca: str | None, device_name: str | None,
                as_json: bool) -> None:
    """Sign in to a team server (several URLs: comma-separated); the daemon then mirrors it."""
    from tray_agent import config
    from tray_agent.paths import resolve
    from tray_agent.team.connect import check_urls, connect

    check_urls(server)
    if code is None:
        code = click.prompt("Sign-in code", hide_input=True)
    paths = resolve(c.home).ensure()
    result = connect(paths, config.load(paths), server, code, ca=ca,
                     device_name=device_name or socket.gethostname())
    agent = result["agent"]
    emit(result, as_json, f"Connected to {result['server']} as {agent['name']} <{agent.get('email') or ''}>; "
                          "restart the agent to work from the team's inbox.")


@cli.command("disconnect")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def disconnect_cmd(c: Ctx, as_json: bool) -> None:
    """Forget the team server and this device's token; back to working alone."""
    from tray_agent import config
    from tray_agent.paths import resolve
    from tray_agent.team.connect import disconnect

    paths = resolve(c.home).ensure()
    was = disconnect(paths, config.load(paths))
    emit({"disconnected": was}, as_json, "Disconnected: this desktop works alone again." if was
         else "This desktop was not connected to a team server.")
