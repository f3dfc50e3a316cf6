"""``tray-agent server``: run the team server, and administer its agents and devices from
the server's console (each administrative action goes to the audit log).
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from tray_agent.cli import Ctx, cli, emit


class ServerCtx:
    """The server's App on its PostgreSQL database, built on first use."""

    def __init__(self, parent: Ctx, database: str | None) -> None:
        self.parent = parent
        self.database = database
        self._app: Any = None
        self._accounts: Any = None

    @property
    def config(self) -> Any:
        from tray_agent import config
        from tray_agent.paths import resolve

        return config.load(resolve(self.parent.home).ensure())

    @property
    def app(self) -> Any:
        if self._app is None:
            from tray_agent.paths import resolve
            from tray_agent.server.runner import build_app

            cfg = self.config
            self._app = build_app(resolve(self.parent.home).ensure(), cfg, self.database or cfg.server.database)
            self.parent._app = self._app  # closed with the command
        return self._app

    @property
    def accounts(self) -> Any:
        if self._accounts is None:
            from tray_agent.server.accounts import Accounts

            self._accounts = Accounts(self.app.inbox)
        return self._accounts

    @property
    def admin(self) -> Any:
        """The administration service the admin view calls too (each change audited)."""
        from tray_agent.server.administration import Administration

        return Administration(self.accounts)

    @property
    def actor(self) -> Any:
        from tray_agent.server.accounts import CONSOLE, Actor

        return Actor(CONSOLE)


pass_server = click.make_pass_decorator(ServerCtx)


@cli.group("server", invoke_without_command=True)
@click.option("--database", envvar="TRAY_AGENT_SERVER_DATABASE", default=None,
              help="The team's PostgreSQL: postgresql://user@host/db (default: [server] database).")
@click.option("--listen", default=None, help="host:port to listen on (default: [server] listen, 127.0.0.1:8700).")
@click.option("--cert", default=None, type=click.Path(dir_okay=False), help="Serve TLS with this PEM certificate chain.")
@click.option("--key", default=None, type=click.Path(dir_okay=False), help="...and this PEM private key.")
@click.option("--sandbox", is_flag=True, help="Point the channels at the provider sandbox (a whole team on one machine).")
@click.pass_context
def server(ctx: click.Context, database: str | None, listen: str | None, cert: str | None, key: str | None,
           sandbox: bool) -> None:
    """Run the team server (PostgreSQL only), or administer it with a subcommand."""
    sc = ServerCtx(ctx.find_object(Ctx), database)  # type: ignore[arg-type]
    ctx.obj = sc
    if ctx.invoked_subcommand is not None:
        return
    from tray_agent.server.runner import TeamServer, Tls, parse_listen, postgres_url

    cfg = sc.config
    postgres_url(database or cfg.server.database)  # refuse SQLite before building anything
    host, port = parse_listen(listen or cfg.server.listen)
    tls = Tls.of(cert or cfg.server.cert, key or cfg.server.key)
    from tray_agent import logs

    # The console and logs/daemon.log at [log] level, credentials masked (as the desktop's).
    logs.configure_app(sc.app)
    srv = TeamServer(sc.app, host=host, port=port, tls=tls, public_url=cfg.server.public_url, sandbox=sandbox)
    click.echo(f"Tray Agent team server on {srv.url} (database {_shown(sc.app.db.url)})", err=True)
    from tray_agent.net import is_loopback_host

    if tls is None and not is_loopback_host(host) and not cfg.server.public_url.startswith("https://"):
        click.echo("warning: listening beyond loopback without TLS: sign-in codes and device tokens would "
                   "cross the network in clear; give --cert/--key or put a TLS proxy in front "
                   "([server] public_url = https://...).", err=True)
    sc.app.settle()
    from tray_agent.run.stop_signals import take_stop_signals

    take_stop_signals(srv.should_exit)  # a closed terminal (SIGHUP) stops it cleanly too, as SIGTERM does
    asyncio.run(srv.serve())


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- agents -------------------------------------------------------------------------------

@server.group("agent")
def agent_group() -> None:
    """The team's agents and their sign-in codes."""


@agent_group.command("add")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--extension", default=None, help="The agent's phone extension (click-to-call).")
@click.option("--admin", is_flag=True, help="An administrator: sees every conversation.")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def agent_add(sc: ServerCtx, name: str, email: str, extension: str | None, admin: bool, as_json: bool) -> None:
    """Create an agent and print a one-time sign-in code for their desktop (valid 24 h)."""
    agent, code = sc.accounts.add_agent(sc.actor, name, email, extension, admin=admin)
    emit({"agent": agent, "code": code}, as_json,
         f"Added {agent.name} <{agent.email}> (id {agent.id}, {agent.role}).\n"
         f"One-time sign-in code (shown once, valid 24 h): {code}")


@agent_group.command("code")
@click.argument("agent_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_server
def agent_code(sc: ServerCtx, agent_id: int, as_json: bool) -> None:
    """Issue a new one-time sign-in code for an agent (another desktop, a lost code)."""
    code = sc.accounts.issue_code(sc.actor, agent_id)
    emit({"agent_id": agent_id, "code": code}, as_json, f"One-time sign-in code (shown once, valid 24 h): {code}")


@agent_group.command("role")
@click.argument("agent_id", type=int)
@click.argument("role", type=click.Choice(["agent", "admin"]))
@pass_server
def agent_role(sc: ServerCtx, agent_id: int, role: str) -> None:
    """Make an agent an administrator, or an agent again (the last admin stays one)."""
    agent = sc.admin.set_role(sc.actor, agent_id, role)
    click.echo(f"{agent.name} is now {agent.role}.")


@agent_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def agent_list(sc: ServerCtx, as_json: bool) -> None:
    agents = sc.app.inbox.list_agents()
    emit(agents, as_json, "\n".join(f"{a.id}\t{a.name}\t{a.email or ''}\t{a.role}" for a in agents) or "No agents.")


# -- queues -------------------------------------------------------------------------------

@server.group("queue")
def queue_group() -> None:
    """Message queues: members, pickup mode, automatic assignment and re-queue."""


@queue_group.command("add")
@click.option("--name", required=True)
@click.option("--member", "members", type=int, multiple=True, help="An agent id (repeat for each member).")
@click.option("--pickup", type=click.Choice(["auto", "manual", "none"]), default="auto", show_default=True,
              help="auto: the first reply takes it; manual: only Pick Up does; none: a shared inbox.")
@pass_server
def queue_add(sc: ServerCtx, name: str, members: tuple[int, ...], pickup: str) -> None:
    q = sc.admin.add_queue(sc.actor, name, list(members), pickup)
    click.echo(f"Added queue {q.name} (id {q.id}, pickup {q.pickup_mode}, {len(q.member_ids)} members).")


@queue_group.command("pickup")
@click.argument("queue_id", type=int)
@click.argument("mode", type=click.Choice(["auto", "manual", "none"]))
@pass_server
def queue_pickup(sc: ServerCtx, queue_id: int, mode: str) -> None:
    """Set how the queue's conversations are taken over."""
    q = sc.admin.set_pickup_mode(sc.actor, queue_id, mode)
    click.echo(f"Queue {q.name}: pickup {q.pickup_mode}.")


@queue_group.command("members")
@click.argument("queue_id", type=int)
@click.argument("agent_ids", type=int, nargs=-1)
@pass_server
def queue_members(sc: ServerCtx, queue_id: int, agent_ids: tuple[int, ...]) -> None:
    """Set the queue's members (agent ids; none empties it)."""
    q = sc.admin.set_queue_members(sc.actor, queue_id, list(agent_ids))
    click.echo(f"Queue {q.name}: {len(q.member_ids)} members.")


@queue_group.command("set")
@click.argument("queue_id", type=int)
@click.option("--auto-assign/--no-auto-assign", default=None,
              help="Give new conversations to the available member with the fewest open ones.")
@click.option("--capacity", default=None, metavar="N|off", help="Most open conversations per member it assigns.")
@click.option("--requeue-after", default=None, metavar="MINUTES|off",
              help="Return a conversation to the queue when its owner has not answered for this long.")
@pass_server
def queue_set(sc: ServerCtx, queue_id: int, auto_assign: bool | None, capacity: str | None,
              requeue_after: str | None) -> None:
    """Beyond Linkus (both off by default): automatic assignment and re-queue."""
    changes: dict[str, Any] = {}
    if auto_assign is not None:
        changes["auto_assign"] = auto_assign
    for key, raw in (("capacity", capacity), ("requeue_after_minutes", requeue_after)):
        if raw is not None:
            changes[key] = _count_or_off(raw, key)
    q = sc.admin.set_queue_policy(sc.actor, queue_id, changes)
    click.echo(f"Queue {q.name}: {_policy(q)}.")


def _count_or_off(raw: str, what: str) -> int | None:
    from tray_agent.core.errors import InvalidInput

    text = raw.strip().lower()
    if text in ("off", "none"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{what.replace('_', ' ')} is a positive whole number or off, not {raw!r}.")
    return int(text)


def _policy(q: Any) -> str:
    assign = f"auto-assign (capacity {q.capacity or 'unlimited'})" if q.auto_assign else "no auto-assign"
    requeue = f"re-queue after {q.requeue_after_minutes} min" if q.requeue_after_minutes else "no re-queue"
    return f"pickup {q.pickup_mode}, {assign}, {requeue}"


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def queue_list(sc: ServerCtx, as_json: bool) -> None:
    queues = sc.app.inbox.list_queues()
    emit(queues, as_json, "\n".join(f"{q.id}\t{q.name}\t{_policy(q)}\t{q.member_ids}" for q in queues)
         or "No queues.")


# -- devices ------------------------------------------------------------------------------

@server.group("device")
def device_group() -> None:
    """Signed-in desktops: list them, revoke one."""


@device_group.command("list")
@click.option("--agent", "agent_id", type=int, default=None, help="Only this agent's devices.")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def device_list(sc: ServerCtx, agent_id: int | None, as_json: bool) -> None:
    devices = sc.accounts.list_devices(agent_id)
    emit(devices, as_json, "\n".join(
        f"{d.id}\t{d.agent_name}\t{d.name}\t{'revoked ' + d.revoked_at.isoformat() if d.revoked_at else 'active'}"
        for d in devices) or "No devices.")


@device_group.command("revoke")
@click.argument("device_id", type=int)
@pass_server
def device_revoke(sc: ServerCtx, device_id: int) -> None:
    """Revoke a device: its token is refused from its next request on."""
    d = sc.accounts.revoke_device(sc.actor, device_id)
    click.echo(f"Revoked device {d.id} ({d.name}) of {d.agent_name}.")


@server.command("audit")
@click.option("--limit", type=int, default=50)
@click.option("--since", type=click.DateTime(), default=None, help="From this time (UTC when no zone is given).")
@click.option("--until", type=click.DateTime(), default=None, help="Before this time.")
@click.option("--agent", "agent_id", type=int, default=None, help="Only what this agent (id) did.")
@click.option("--action", default=None, help="One action (queue.added) or a family with a dot (queue.).")
@click.option("--json", "as_json", is_flag=True)
@pass_server
def audit(sc: ServerCtx, limit: int, since: Any, until: Any, agent_id: int | None, action: str | None,
          as_json: bool) -> None:
    """The audit log of administrative actions, newest first."""
    rows = sc.admin.audit(since=since, until=until, agent_id=agent_id, action=action, limit=limit)
    emit(rows, as_json, "\n".join(f"{r.at:%Y-%m-%d %H:%M:%S}\t{r.actor}\t{r.action}\t{r.target}" for r in rows)
         or "The audit log is empty.")


@server.command("new-epoch")
@pass_server
def new_epoch(sc: ServerCtx) -> None:
    """After restoring a backup: make every desktop resync from a fresh snapshot."""
    sc.accounts.new_epoch(sc.actor)
    click.echo("The database has a new epoch: every desktop will resync from a fresh snapshot.")
