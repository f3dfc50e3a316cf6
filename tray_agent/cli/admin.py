"""Set-up and diagnostics: plugins, doctor, agents, queues, the API server and the daemon."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from typing import Any

import click
from sqlalchemy.engine import make_url

from tray_agent import __version__
from tray_agent.calls import availability
from tray_agent.cli import Ctx, cli, emit, pass_ctx
from tray_agent.cli.channels import health_state


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plugins_cmd(c: Ctx, as_json: bool) -> None:
    """List installed plugins, their versions, hooks and errors."""
    app = c.app
    infos = [vars(i) for i in app.plugins.info()]
    # Hooks that failed in the running daemon are recorded in the store; show them here too.
    stored: dict[str, list[str]] = {}
    for e in app.recent_plugin_errors(100):
        stored.setdefault(e.plugin, []).append(f"{e.hook}: {e.error} (at {e.created_at:%Y-%m-%d %H:%M})")
    for i in infos:
        i["errors"] = list(dict.fromkeys([*i["errors"], *stored.pop(i["name"], [])]))
    infos += [{"name": n, "distribution": None, "version": None, "hooks": [], "errors": errs}
              for n, errs in stored.items()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for i in infos:
        click.echo(f"{i['name']} ({i['distribution'] or 'in-process'} {i['version'] or ''})".rstrip())
        click.echo(f"  hooks: {', '.join(i['hooks']) or '-'}")
        for e in i["errors"]:
            click.echo(f"  error: {e}")


def running_agent(paths: Any) -> dict[str, Any] | None:
    """The daemon or `serve` of this install, if one runs: its pid and address."""
    from tray_agent.core.reporter import is_running
    from tray_agent.desktop.instance import read_info

    info = read_info(paths.instance_file)
    pid = info.get("pid") if info else None
    if not info or not isinstance(pid, int) or is_running(f"{socket.gethostname()}:{pid}") is not True:
        return None
    return {"pid": pid, "url": str(info["url"]).rstrip("/")}


def doctor_report(c: Ctx) -> dict[str, Any]:
    app = c.app
    url = make_url(app.db.url)
    checks: dict[str, Any] = {
        "version": __version__,
        "paths": {k: str(getattr(app.paths, k)) for k in ("data", "config", "logs", "runtime")},
        "config_file": str(app.paths.config_file),
        "database": {"url": url.render_as_string(hide_password=True), "schema_revision": app.schema_revision},
        "agent": app.agent.model_dump(mode="json"),
        "running": running_agent(app.paths),
        "channels": [
            {"id": ch.id, "name": ch.name, "kind": ch.kind, "business_address": ch.business_address,
             "plugin_installed": ch.available, "healthy": ch.healthy, "detail": ch.health_detail,
             "running": ch.running, "health_at": ch.health_at.isoformat() if ch.health_at else None}
            for ch in app.inbox.list_channels()
        ],
        "channel_types": sorted(app.channel_types),
        "call_handlers": [{"name": n, "available": ok, "detail": why}
                          for n, h in app.call_handlers.items() for ok, why in [availability(h)]],
        "plugin_errors": [{"plugin": e.plugin, "hook": e.hook, "error": e.error, "at": str(e.created_at)}
                          for e in app.recent_plugin_errors()],
        # Recorded by the running agent's supervisor whenever a background task fails or recovers.
        "tasks": [{"name": t.name, "failing": t.consecutive_failures > 0,
                   "consecutive_failures": t.consecutive_failures, "failures": t.failures,
                   "last_error": t.last_error, "failed_at": t.failed_at, "retry_at": t.retry_at,
                   "ok_at": t.ok_at} for t in app.inbox.task_statuses()],
    }
    checks["team"] = team_report(app, checks["running"])
    try:
        from tray_agent.desktop.environment import probe

        checks["desktop"] = probe()
    except ImportError:
        pass
    return checks


def team_report(app: Any, running: dict[str, Any] | None) -> dict[str, Any]:
    """Where the inbox lives: alone, or a team server's cache (the running daemon's live
    connection state when it answers, else what the cache says)."""
    from tray_agent.team.status import connection

    report = connection(app)
    if report["mode"] == "team" and running:
        import httpx

        from tray_agent.api import security

        try:
            r = httpx.get(f"{running['url']}/api/connection", timeout=3,
                          headers={"Authorization": f"Bearer {security.load_or_create_token(app.paths.token_file)}"})
            if r.status_code == 200:
                report = r.json()
        except httpx.HTTPError:
            pass  # the daemon is busy or going away: the cache's own state stands
    elif report["mode"] == "team":
        report["state"] = "not running"
    return report


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def doctor_cmd(c: Ctx, as_json: bool) -> None:
    """Check paths, database, channels, plugins and the desktop; say what is missing."""
    r = doctor_report(c)
    if as_json:
        click.echo(json.dumps(r, indent=2, default=str))
        return
    click.echo(f"tray-agent {r['version']}")
    for k, v in r["paths"].items():
        click.echo(f"  {k:<8} {v}")
    click.echo(f"database: {r['database']['url']} (schema {r['database']['schema_revision']})")
    click.echo(f"agent:    {r['agent']['name']} <{r['agent']['email']}>")
    click.echo(f"channel types: {', '.join(r['channel_types']) or 'none installed'}")
    t = r["team"]
    if t["mode"] == "team":
        who = t["agent"] or {}
        click.echo(f"team server: {t['server']} as {who.get('name', '?')} <{who.get('email') or ''}> — {t['state']}"
                   + (f" since {t['since']}" if t.get("since") else "") + (f" ({t['last_error']})" if t["last_error"] else ""))
        click.echo(f"  sync cursor: {t['cursor'] or 'none yet'}; {t['pending']} action(s) waiting to go upstream")
    else:
        click.echo("team server: none (this desktop works alone)")
    run = r["running"]
    click.echo(f"agent running (pid {run['pid']}) at {run['url']}/" if run else
               "agent not running — the channels' health below is as last seen")
    for ch in r["channels"]:
        state = health_state(ch)
        click.echo(f"channel {ch['id']} {ch['name']} ({ch['kind']} {ch['business_address']}): {state}"
                   + (f" — {ch['detail']}" if ch["detail"] else ""))
    for h in r["call_handlers"]:
        click.echo(f"call handler {h['name']}: {'available' if h['available'] else 'NOT AVAILABLE'}"
                   + (f" — {h['detail']}" if h["detail"] else ""))
    for e in r["plugin_errors"]:
        click.echo(f"plugin error: {e['plugin']} in {e['hook']}: {e['error']}")
    for t in r["tasks"]:
        if t["failing"]:
            click.echo(f"task {t['name']}: FAILING ({t['consecutive_failures']} in a row, last at "
                       f"{t['failed_at']:%Y-%m-%d %H:%M:%S}) — {t['last_error']}; retrying")
        else:
            click.echo(f"task {t['name']}: ok again (failed {t['failures']} times, last: {t['last_error']})")
    for name, d in (r.get("desktop") or {}).items():
        click.echo(f"desktop {name}: {'ok' if d.get('ok') else 'missing'}" + (f" — {d['detail']}" if d.get("detail") else ""))


@cli.group("agent")
def agent_group() -> None:
    """Agents (colleagues) in this inbox."""


@agent_group.command("add")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--extension", default=None, help="The agent's own phone/extension for click-to-call.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def agent_add(c: Ctx, name: str, email: str | None, extension: str | None, as_json: bool) -> None:
    a = c.app.inbox.add_agent(name, email, extension)
    emit(a, as_json, f"agent {a.id}: {a.name}")


@agent_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def agent_list(c: Ctx, as_json: bool) -> None:
    agents = c.app.inbox.list_agents()
    emit(agents, as_json, "\n".join(f"{a.id:>4} {a.name} {a.email or ''}" for a in agents))


@cli.group("queue")
def queue_group() -> None:
    """Message queues: groups of agents that a channel's new conversations go to."""


@queue_group.command("add")
@click.argument("name")
@click.option("--member", "members", type=int, multiple=True, help="Agent id (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def queue_add(c: Ctx, name: str, members: tuple[int, ...], as_json: bool) -> None:
    q = c.app.inbox.add_queue(name, list(members))
    emit(q, as_json, f"queue {q.id}: {q.name} ({len(q.member_ids)} members)")


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def queue_list(c: Ctx, as_json: bool) -> None:
    qs = c.app.inbox.list_queues()
    emit(qs, as_json, "\n".join(f"{q.id:>4} {q.name} members={q.member_ids}" for q in qs))


@cli.command("serve")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
@pass_ctx
def serve_cmd(c: Ctx, port: int | None) -> None:
    """Run the agent headless: the API, the channels and the background tasks."""
    from tray_agent import logs
    from tray_agent.core.errors import Conflict
    from tray_agent.desktop import instance
    from tray_agent.run.runner import Runner
    from tray_agent.run.stop_signals import take_stop_signals

    app = c.app
    t0 = time.monotonic()
    # As the daemon: the same logs, and the same instance lock and file, which `channel
    # list` reads for the webhook address and a second launch for the running agent.
    logs.configure_app(app)
    lock = instance.acquire(app.paths.runtime)
    if lock is None:
        info = instance.read_info(app.paths.instance_file) or {}
        where = f" (pid {info.get('pid')}, {info.get('url')})" if info else ""
        raise Conflict(f"Tray Agent is already running{where}; stop it before starting another on this home.")
    try:
        runner = Runner(app, port=port)

        async def serve() -> bool:
            try:
                await runner.serve()
            except SystemExit as exc:  # uvicorn's way of saying it could not listen (it said why)
                return not exc.code
            return True

        async def main() -> bool:
            task = asyncio.create_task(serve())
            while not runner.started and not task.done():
                await asyncio.sleep(0.01)
            if not task.done():
                click.echo(startup_banner(app, runner.url))
                sys.stdout.flush()
                instance.write_info(app.paths.instance_file, url=runner.url, tray=False, started_at=time.time(),
                                    ready_seconds=round(time.monotonic() - t0, 3))
                app.settle()
            return await task

        take_stop_signals(runner.request_stop)  # exit 0 after removing our file, on SIGINT, SIGTERM or SIGHUP
        if not asyncio.run(main()):
            click.echo(f"error: the local API could not start on {runner.url}", err=True)
            raise SystemExit(1)
    finally:
        instance.remove_info(app.paths.instance_file)
        lock.release()


def startup_banner(app: Any, url: str) -> str:
    """What a start prints: the address to open. The key goes into it only on a terminal
    (a service's output ends up in a journal; `tray-agent open` prints it on demand)."""
    line = f"Tray Agent is running at {url}/"
    if sys.stdout.isatty():
        from tray_agent.api.security import load_or_create_token, window_url

        token = load_or_create_token(app.paths.token_file)
        return f"{line}\n  open the window in a browser: {window_url(url, token)}"
    return f"{line}  (`tray-agent open` prints the window's address, `--browser` opens it)"


@cli.command("daemon", hidden=True)
@pass_ctx
def start_daemon(c: Ctx) -> None:
    """Start the tray daemon (what `tray-agent` with no command does)."""
    try:
        from tray_agent.desktop.memory import keep_out_unused_modules

        keep_out_unused_modules()  # before the plugins load (and import httpx)
        from tray_agent.desktop.daemon import run
    except ImportError:
        click.echo("The desktop shell is not available; running headless.", err=True)
        click.get_current_context().invoke(serve_cmd)
        return
    from tray_agent.config import load
    from tray_agent.core.migrate_process import migrate_in_child
    from tray_agent.paths import resolve

    paths = resolve(c.home).ensure()
    migrate_in_child(load(paths).database_url(paths))  # the daemon then never imports alembic
    run(c.app)


