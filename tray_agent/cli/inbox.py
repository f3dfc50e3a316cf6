"""Conversation commands: list, show, send, start, take over, transfer, archive, close, ..."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path

import click

from tray_agent.cli import Ctx, cli, emit, pass_ctx
from tray_agent.core.errors import InvalidInput
from tray_agent.core.files import StagedFile
from tray_agent.core.views import FILTERS, ConversationView, MessageView
from tray_agent.paths import Paths


def _line(c: ConversationView) -> str:
    flags = "".join(f for f, on in (("●", c.unread), ("A", c.archived), ("✕", c.status == "closed")) if on)
    who = c.customer_name or c.customer_display
    owner = c.assigned_agent_name or (f"queue {c.queue_name}" if c.queue_name else "unassigned")
    when = c.last_activity_at.strftime("%Y-%m-%d %H:%M") if c.last_activity_at else ""
    return f"{c.id:>6} {flags:<3} {c.channel_label:<9} {who:<24.24} {when}  [{owner}]  {c.last_message_preview[:60]}"


def _msg(m: MessageView) -> str:
    when = m.created_at.strftime("%Y-%m-%d %H:%M")
    who = {"in": "customer", "out": m.sender_name or "agent", "system": "·"}.get(m.direction, m.direction)
    status = f" ({m.status}{': ' + m.status_reason if m.status_reason and m.status == 'failed' else ''})" if m.status else ""
    files = "".join(f"\n{'':>20}📎 {a.file_name} ({a.size} bytes{', expired' if a.expired else ''})" for a in m.attachments)
    return f"{when} {who:>10}: {m.text}{status}{files}"


@cli.command("inbox")
@click.option("--filter", "filter_", default="all", type=click.Choice(FILTERS))
@click.option("--channel", type=int, default=None, help="Only this channel id.")
@click.option("--limit", type=int, default=50)
@click.option("--cursor", default=None, help="Continue after a previous page.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def inbox_cmd(c: Ctx, filter_: str, channel: int | None, limit: int, cursor: str | None, as_json: bool) -> None:
    """List conversations, most recent first."""
    page = c.app.inbox.list_inbox(c.agent_id, filter_, channel_id=channel, limit=limit, cursor=cursor)
    text = "\n".join(_line(x) for x in page.items) or "(no conversations)"
    if page.next_cursor:
        text += f"\n-- more: --cursor {page.next_cursor}"
    emit(page, as_json, text)


@cli.command("show")
@click.argument("conversation_id", type=int)
@click.option("--before", type=int, default=None, help="Older messages, before this message id.")
@click.option("--limit", type=int, default=50)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show_cmd(c: Ctx, conversation_id: int, before: int | None, limit: int, as_json: bool) -> None:
    """Show a conversation with its whole history, and mark it read."""
    detail = c.app.inbox.get_conversation(c.agent_id, conversation_id)
    page = c.app.inbox.history(c.agent_id, conversation_id, before=before, limit=limit)
    c.app.inbox.mark_read(c.agent_id, conversation_id)
    head = f"{_line(detail)}\n{'reply: ok' if detail.composer.can_reply else 'reply: ' + (detail.composer.reason or 'no')}"
    if detail.composer.window_closes_at:
        head += f" (window closes {detail.composer.window_closes_at:%Y-%m-%d %H:%M} UTC)"
    emit({"conversation": detail, "messages": page.items, "next_before": page.next_before}, as_json,
         head + "\n" + "\n".join(_msg(m) for m in page.items))


def _stage(c: Ctx, files: tuple[str, ...], max_bytes: int) -> list[StagedFile]:
    staged = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise InvalidInput(f"{f} is not a file.")

        def chunks(path: Path = p) -> Iterator[bytes]:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        staged.append(c.app.inbox.files.stage(chunks(), p.name, mime, max_bytes))
    return staged


@cli.command("send")
@click.argument("conversation_id", type=int)
@click.argument("text", default="")
@click.option("--file", "files", multiple=True, type=click.Path(), help="Attach a file (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def send_cmd(c: Ctx, conversation_id: int, text: str, files: tuple[str, ...], as_json: bool) -> None:
    """Reply in a conversation (queued for the channel; the running agent sends it)."""
    detail = c.app.inbox.get_conversation(c.agent_id, conversation_id)
    msg = c.app.inbox.reply(c.agent_id, conversation_id, text, _stage(c, files, detail.composer.max_file_bytes))
    emit(msg, as_json, f"queued message {msg.id}")


@cli.command("start")
@click.argument("channel_id", type=int)
@click.argument("number")
@click.argument("text", default="")
@click.option("--file", "files", multiple=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def start_cmd(c: Ctx, channel_id: int, number: str, text: str, files: tuple[str, ...], as_json: bool) -> None:
    """Start a conversation from the business number (channels that allow it)."""
    ch = c.app.inbox.get_channel(channel_id)
    conv, msg = c.app.inbox.start_conversation(c.agent_id, channel_id, number, text,
                                               _stage(c, files, int(ch.rules["max_file_bytes"])))
    emit({"conversation": conv, "message": msg}, as_json, f"conversation {conv.id}: queued message {msg.id}")


def _simple(name: str, method: str, help_: str) -> None:
    @cli.command(name, help=help_)
    @click.argument("conversation_id", type=int)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def cmd(c: Ctx, conversation_id: int, as_json: bool) -> None:
        view = getattr(c.app.inbox, method)(c.agent_id, conversation_id)
        emit(view, as_json, _line(view))


for _name, _method, _help in (
    ("claim", "claim", "Take over a queued conversation."),
    ("archive", "archive", "Hide a conversation from the inbox."),
    ("unarchive", "unarchive", "Bring an archived conversation back."),
    ("close", "close", "Close a conversation."),
    ("reopen", "reopen", "Reopen a closed conversation."),
    ("read", "mark_read", "Mark a conversation read."),
    ("unread", "mark_unread", "Mark a conversation unread."),
):
    _simple(_name, _method, _help)


@cli.command("transfer")
@click.argument("conversation_id", type=int)
@click.option("--to-agent", type=int, default=None)
@click.option("--to-queue", type=int, default=None)
@click.option("--note", default="")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def transfer_cmd(c: Ctx, conversation_id: int, to_agent: int | None, to_queue: int | None, note: str, as_json: bool) -> None:
    """Hand a conversation to a colleague or a queue."""
    view = c.app.inbox.transfer(c.agent_id, conversation_id, to_agent_id=to_agent, to_queue_id=to_queue, note=note)
    emit(view, as_json, _line(view))


@cli.command("call")
@click.argument("conversation_id", type=int)
@click.option("--handler", default=None, help="Call handler by name (see `doctor`).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def call_cmd(c: Ctx, conversation_id: int, handler: str | None, as_json: bool) -> None:
    """Elevate a conversation to a phone call."""
    res = c.app.inbox.elevate_to_call(c.agent_id, conversation_id, handler)
    emit(res, as_json, res.detail + (f" ({res.outcome})" if res.outcome else ""))


@cli.command("retry")
@click.argument("message_id", type=int)
@pass_ctx
def retry_cmd(c: Ctx, message_id: int) -> None:
    """Send a failed message again."""
    msg = c.app.inbox.retry(c.agent_id, message_id)
    click.echo(f"queued message {msg.id} again")


@cli.command("save-contact")
@click.argument("conversation_id", type=int)
@click.option("--name", default=None, help="Name of a new contact.")
@click.option("--contact", "contact_id", type=int, default=None, help="Add the number to this existing contact.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def contact_cmd(c: Ctx, conversation_id: int, name: str | None, contact_id: int | None, as_json: bool) -> None:
    """Save the customer as a contact (new, or added to an existing one)."""
    view = c.app.inbox.save_contact(c.agent_id, conversation_id, name=name, contact_id=contact_id)
    emit(view, as_json, f"contact {view.id}: {view.display_name} ({', '.join(p['address'] for p in view.points)})")


@cli.command("search")
@click.argument("query")
@click.option("--limit", type=int, default=20)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def search_cmd(c: Ctx, query: str, limit: int, as_json: bool) -> None:
    """Search all message text, newest first."""
    hits = c.app.inbox.search(c.agent_id, query, limit=limit)
    emit(hits, as_json, "\n".join(f"{h.conversation.id:>6} {_msg(h.message)}" for h in hits) or "(no matches)")


@cli.command("open")
@click.argument("conversation_id", type=int, required=False)
@click.option("--browser", is_flag=True, help="Open it in the default web browser instead of printing it.")
@pass_ctx
def open_cmd(c: Ctx, conversation_id: int | None, browser: bool) -> None:
    """Print the running agent's window address (with its key), or open it in a browser."""
    from tray_agent.paths import resolve

    url = window_address(resolve(c.home), conversation_id)
    if url is None:
        raise InvalidInput("Tray Agent is not running; start it with `tray-agent` (or `tray-agent serve`).")
    if browser:
        import webbrowser

        if not webbrowser.open(url):
            raise InvalidInput("No web browser could be started; open the address `tray-agent open` prints.")
        click.echo("Opened the window in your web browser.")
        return
    click.echo(url)


def window_address(paths: Paths, conversation_id: int | None = None) -> str | None:
    """The running agent's ready-to-open window address: its token is traded for a cookie
    on first load (then dropped from the address bar). None when no agent runs."""
    from tray_agent.api.security import window_url
    from tray_agent.cli.admin import running_agent

    running = running_agent(paths)
    if running is None:
        return None
    try:
        token = paths.token_file.read_text().strip()
    except OSError:
        return None
    return window_url(running["url"], token, conversation_id)
