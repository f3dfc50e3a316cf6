"""Channel set-up from the command line (`channel add|list|remove|test`) and the standalone
provider sandbox (`sandbox`). Settings go to the TOML file and the store; credentials go
to the OS keyring only, never to the file or the screen.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import click

from tray_agent import credentials
from tray_agent.cli import Ctx, cli, emit, pass_ctx
from tray_agent.core.errors import Conflict, InvalidInput, NotFound, TrayAgentError

T = TypeVar("T")


@cli.group("channel")
def channel_group() -> None:
    """Messaging channels: add, list, remove and test them."""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} must look like NAME=VALUE, not {v!r}.")
        out[key.strip()] = value
    return out


@channel_group.command("add")
@click.argument("kind")
@click.argument("name")
@click.option("--business-address", "--number", "address", default=None,
              help="The business number (or address) customers see.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A channel setting (repeatable).")
@click.option("--secret", "secret_values", multiple=True, metavar="NAME=VALUE",
              help="A credential (repeatable); missing ones are asked for, hidden.")
@click.option("--auto-close", type=int, default=None, help="Close idle conversations after this many seconds.")
@click.option("--no-prompt", is_flag=True, help="Fail instead of asking for missing credentials.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def channel_add(c: Ctx, kind: str, name: str, address: str | None, settings: tuple[str, ...],
                secret_values: tuple[str, ...], auto_close: int | None, no_prompt: bool, as_json: bool) -> None:
    """Add a channel of KIND (sms, whatsapp, ...) called NAME."""
    app = c.app
    ctype = app.channel_types.get(kind)
    if ctype is None:
        raise InvalidInput(f"There is no channel type {kind!r} (installed: {', '.join(sorted(app.channel_types)) or 'none'}).")
    values = _pairs(settings, "--set")
    unknown = sorted(set(values) - set(ctype.settings))
    if unknown:
        raise InvalidInput(f"{ctype.label} has no setting {', '.join(unknown)} (it takes: {', '.join(ctype.settings)}).")
    address = address or values.get(ctype.business_address_setting)
    if not address:
        raise InvalidInput(f"Give the business address with --business-address (or --set {ctype.business_address_setting}=…).")
    if name in app.config.channels or any(ch.name == name for ch in app.inbox.list_channels(include_disabled=True)):
        raise Conflict(f"A channel named {name!r} exists already.")
    if ctype.rules.address_kind == "phone":
        from tray_agent.core.phone import normalize

        address = normalize(address)
    given = _pairs(secret_values, "--secret")
    bad = sorted(set(given) - set(ctype.secrets))
    if bad:
        raise InvalidInput(f"{ctype.label} takes no credential {', '.join(bad)} "
                           f"(it takes: {', '.join(ctype.secrets) or 'none'}).")
    for key, description in ctype.secrets.items():
        if key in given or key in ctype.optional_secrets or credentials.get(name, key):
            continue
        if no_prompt:
            raise InvalidInput(f"The credential {key} is missing: pass --secret {key}=… "
                               f"or set {credentials.env_name(name, key)}.")
        given[key] = click.prompt(f"{key} ({description})", hide_input=True)
    stored = []
    try:
        for key, value in given.items():
            credentials.put(name, key, value)
            stored.append(key)
        ch = app.inbox.add_channel(kind, name, address, {**values, "source": "config"}, auto_close_seconds=auto_close)
    except TrayAgentError:
        for key in stored:  # nothing half-added: no orphaned credentials
            credentials.delete(name, key)
        raise
    entry: dict[str, Any] = {"kind": kind, "business_address": address, "settings": values}
    if auto_close is not None:
        entry["auto_close_seconds"] = auto_close
    app.config.channels[name] = entry
    app.config.save()
    view = _describe(app, ch)
    emit(view, as_json, f"channel {ch.id}: {name} ({ctype.label} {address}) added; {_where_credentials(name, ctype, given)}\n"
         + "\n".join(f"  {w['method']} {w['url']}  — {w['description']}" for w in view["webhooks"]))


@channel_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def channel_list(c: Ctx, as_json: bool) -> None:
    """Every channel with its kind, business number, health and webhook URLs."""
    app = c.app
    views = [_describe(app, ch) for ch in app.inbox.list_channels(include_disabled=True)]
    lines = []
    for v in views:
        health = health_state(v)
        state = "" if v["enabled"] else " (disabled)"
        lines.append(f"{v['id']:>4} {v['name']} — {v['label']} {v['business_address']}: {health}{state}"
                     + (f" — {v['health_detail']}" if v["health_detail"] else ""))
        lines.extend(f"       {w['method']:<4} {w['url']}" for w in v["webhooks"])
    emit(views, as_json, "\n".join(lines) or "(no channels; the provider sandbox runs when none is configured)")


@channel_group.command("set")
@click.argument("channel")
@click.option("--queue", default=None, metavar="QUEUE", help="Route new conversations to this queue (name or id; 'none').")
@click.option("--agent", default=None, metavar="AGENT", help="Route new conversations to this agent (name or id; 'none').")
@click.option("--auto-close", default=None, metavar="TIME",
              help="Close idle conversations after TIME (90m, 12h, 2d, seconds) or 'never'.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def channel_set(c: Ctx, channel: str, queue: str | None, agent: str | None, auto_close: str | None,
                as_json: bool) -> None:
    """Change CHANNEL's routing or its idle-closure time (where its rules allow it)."""
    app = c.app
    ch = _find(app, channel)
    changes: dict[str, Any] = {}
    if queue is not None:
        changes["route_queue_id"] = _pick(queue, app.inbox.list_queues(), "queue")
    if agent is not None:
        changes["route_agent_id"] = _pick(agent, app.inbox.list_agents(), "agent")
    if auto_close is not None:
        changes["auto_close_seconds"] = _duration(auto_close)
    if not changes:
        raise InvalidInput("Say what to change: --queue, --agent or --auto-close.")
    view = app.inbox.update_channel(ch.id, **changes)
    entry = app.config.channels.get(ch.name)
    if isinstance(entry, dict) and "auto_close_seconds" in changes:
        # The file is the truth for the channels it names: keep it in step, or the next
        # start would undo the change.
        entry["auto_close_seconds"] = changes["auto_close_seconds"]
        app.config.save()
    names = {q.id: q.name for q in app.inbox.list_queues()}
    agents = {a.id: a.name for a in app.inbox.list_agents()}
    closes = view.auto_close_seconds
    emit(view, as_json, f"channel {view.id}: {view.name} — new conversations go to "
         + (f"queue {names.get(view.route_queue_id, view.route_queue_id)!s}" if view.route_queue_id else "")
         + (" and " if view.route_queue_id and view.route_agent_id else "")
         + (f"agent {agents.get(view.route_agent_id, view.route_agent_id)!s}" if view.route_agent_id else "")
         + ("" if view.route_queue_id or view.route_agent_id else "everyone")
         + "; idle conversations " + (f"close after {_human_duration(closes)}." if closes else "never close."))


@channel_group.command("remove")
@click.argument("channel")
@pass_ctx
def channel_remove(c: Ctx, channel: str) -> None:
    """Remove CHANNEL (name or id): deleted if it never carried a conversation, else disabled."""
    app = c.app
    ch = _find(app, channel)
    ctype = app.channel_types.get(ch.kind)
    deleted = app.inbox.remove_channel(ch.id)
    if app.config.channels.pop(ch.name, None) is not None:
        app.config.save()
    for key in (ctype.secrets if ctype else {}):
        credentials.delete(ch.name, key)
    click.echo(f"channel {ch.id}: {ch.name} " + ("deleted." if deleted else "disabled; its conversations are kept."))


@channel_group.command("test")
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def channel_test(c: Ctx, channel: str, as_json: bool) -> None:
    """Check CHANNEL's credentials with its provider and record the result (shown by doctor)."""
    app = c.app
    ch = _find(app, channel)
    adapter = _adapter(app, ch)
    if adapter is None:
        ok, detail = False, f"The {ch.kind!r} channel plugin is not installed."
    else:
        async def check() -> tuple[bool, str]:
            try:
                h = await adapter.check_health()
                return h.ok, h.detail
            except Exception as exc:  # a plugin's bug still gives the user one line
                return False, f"{type(exc).__name__}: {exc}"
            finally:
                await adapter.aclose()

        ok, detail = _run(check())
    # A one-off check: it never takes the health report from the agent that runs the channel.
    app.inbox.set_channel_health(ch.id, ok, detail, runs=False)
    emit({"id": ch.id, "name": ch.name, "ok": ok, "detail": detail}, as_json,
         f"{ch.name}: {'ok' if ok else 'FAILED'} — {detail}")
    if not ok:
        raise click.exceptions.Exit(1)


@cli.command("sandbox")
@click.option("--port", type=int, default=0, envvar="TRAY_AGENT_SANDBOX_PORT", help="Port on 127.0.0.1 (default: free).")
@click.option("--sms-webhook", default="", help="Where inbound SMS go (an agent's …/webhooks/<id>/inbound URL).")
@click.option("--whatsapp-webhook", default="", help="Where WhatsApp notifications go (…/webhooks/<id>/events).")
def sandbox_cmd(port: int, sms_webhook: str, whatsapp_webhook: str) -> None:
    """Run the local provider sandbox (fake Twilio + WhatsApp Cloud API) in the foreground."""
    from tray_agent.sandbox import Sandbox

    sb = Sandbox(port=port)
    c = sb.creds
    if sms_webhook:
        sb.register_sms(sms_webhook)
    if whatsapp_webhook:
        sb.register_whatsapp(whatsapp_webhook)
    # Its credentials change every run, so the webhooks are pointed at the agent while it
    # runs (a restart would invalidate the channels just added).
    hook = f"curl -H 'X-Sandbox: 1' -H 'Content-Type: application/json' {sb.url}/_sandbox/numbers"
    click.echo(f"Provider sandbox at {sb.url}/  (customer phone page; Ctrl+C stops it)\n"
               "Its credentials are fake and change every run; while it runs, wire an agent to it with:\n"
               f"  tray-agent channel add sms 'Sandbox SMS' --number {c.sms_number} --set api_base={sb.url} "
               f"--set account_sid={c.twilio_account_sid} --secret auth_token={c.twilio_auth_token}\n"
               f"  tray-agent channel add whatsapp 'Sandbox WhatsApp' --number {c.whatsapp_number} --set api_base={sb.url} "
               f"--set phone_number_id={c.phone_number_id} --secret access_token={c.meta_access_token} "
               f"--secret app_secret={c.meta_app_secret} --secret verify_token={c.meta_verify_token}\n"
               "SMS reach the agent by polling. For WhatsApp (and SMS webhooks), start the agent, then give this "
               "sandbox the URLs `tray-agent channel list` shows — no restart:\n"
               f"  {hook}/whatsapp -d '{{\"phone_number_id\": \"{c.phone_number_id}\", \"url\": \"EVENTS_URL\"}}'\n"
               f"  {hook}/sms -d '{{\"number\": \"{c.sms_number}\", \"url\": \"INBOUND_URL\"}}'")
    try:
        asyncio.run(sb.serve())
    except KeyboardInterrupt:
        pass


# -- helpers -------------------------------------------------------------------------------


def health_state(v: dict[str, Any]) -> str:
    """A channel's health in words; a report from a process that has stopped is not current."""
    if not v.get("plugin_installed", True):
        return "plugin missing here"
    if v.get("running") is False:
        at = str(v.get("health_at") or "")[:16].replace("T", " ")
        return f"not running — health last seen at {at} UTC" if at else "not running"
    return {True: "ok", False: "UNHEALTHY", None: "unchecked"}[v["healthy"]]


def _where_credentials(name: str, ctype: Any, stored: dict[str, str]) -> str:
    """Where each credential of a new channel comes from: the keyring (given now) or the
    environment variable that overrides it."""
    keyring = [k for k in ctype.secrets if k in stored]
    env = [credentials.env_name(name, k) for k in ctype.secrets if k not in stored and credentials.get(name, k)]
    parts = ([f"{', '.join(keyring)} stored in the keyring"] if keyring else []) + \
            ([f"read from {', '.join(env)}"] if env else [])
    return ("credentials: " + "; ".join(parts) + ".") if parts else "it needs no credentials."


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> int | None:
    """ "2d", "12h", "90m", "3600" → seconds; "never" / "none" / "0" → None."""
    t = text.strip().lower()
    if t in ("never", "none", "off", "0"):
        return None
    unit = t[-1] if t and t[-1] in _UNITS else "s"
    number = t[:-1] if t and t[-1] in _UNITS else t
    try:
        value = float(number)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time; use e.g. 90m, 12h, 2d, or never.") from None
    if value <= 0:
        raise InvalidInput(f"{text!r} is not a time; use e.g. 90m, 12h, 2d, or never.")
    return int(value * _UNITS[unit])


def _human_duration(seconds: int) -> str:
    for _unit, size, name in (("d", 86400, "day"), ("h", 3600, "hour"), ("m", 60, "minute")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {name}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def _pick(text: str, items: list[Any], what: str) -> int | None:
    """The id of the agent or queue named (or numbered) ``text``; None for "none"."""
    if text.strip().lower() == "none":
        return None
    for item in items:
        if item.name == text or str(item.id) == text:
            return int(item.id)
    raise NotFound(f"There is no {what} {text!r}; `tray-agent {what} list` shows them.")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, also when the caller's thread already runs a loop (the CLI embedded
    in a notebook or a test session): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _find(app: Any, channel: str) -> Any:
    for ch in app.inbox.list_channels(include_disabled=True):
        if ch.name == channel or str(ch.id) == channel:
            return ch
    raise NotFound(f"There is no channel {channel!r}; `tray-agent channel list` shows them.")


def _public_base(app: Any) -> str:
    """Where providers reach this agent: the configured public URL, else the running
    daemon's address, else the configured loopback port."""
    if app.config.api.public_url:
        return str(app.config.api.public_url).rstrip("/")
    try:
        info = json.loads(app.paths.instance_file.read_text())
        if info.get("url"):
            return str(info["url"]).rstrip("/")
    except (OSError, ValueError, AttributeError):
        pass
    port = app.config.api.port
    return f"http://{app.config.api.host}:{port}" if port else f"http://{app.config.api.host}:<port>"


def _adapter(app: Any, ch: Any) -> Any:
    """The channel's adapter, built as the runtime builds it (nothing is started)."""
    from tray_agent.channels import ChannelConfig
    from tray_agent.run.runtime import Runtime, _Context

    ctype = app.channel_types.get(ch.kind)
    if ctype is None:
        return None
    runtime = Runtime(app, _public_base(app))
    cfg = ChannelConfig(id=ch.id, kind=ch.kind, name=ch.name, business_address=ch.business_address,
                        settings=dict(ch.settings))
    return ctype.factory(cfg, _Context(runtime, ch.id, ch.name))


def _describe(app: Any, ch: Any) -> dict[str, Any]:
    webhooks = []
    adapter = None
    try:
        adapter = _adapter(app, ch)
        base = _public_base(app)
        for r in adapter.webhook_routes() if adapter is not None else []:
            webhooks.append({"method": r.method, "url": f"{base}/webhooks/{ch.id}/{r.path.strip('/')}",
                             "description": r.description})
    except Exception as exc:  # a broken plugin still lets the others be listed
        webhooks.append({"method": "-", "url": "", "description": f"could not build the adapter: {exc}"})
    finally:
        if adapter is not None:
            _run(adapter.aclose())
    return {"id": ch.id, "name": ch.name, "kind": ch.kind, "label": ch.label, "business_address": ch.business_address,
            "enabled": ch.enabled, "healthy": ch.healthy, "health_detail": ch.health_detail,
            "health_at": ch.health_at.isoformat() if ch.health_at else None, "running": ch.running,
            "plugin_installed": ch.available,
            "in_config": ch.name in app.config.channels, "source": (ch.settings or {}).get("source", ""),
            "route_queue_id": ch.route_queue_id, "route_agent_id": ch.route_agent_id,
            "auto_close_seconds": ch.auto_close_seconds, "webhooks": webhooks}
