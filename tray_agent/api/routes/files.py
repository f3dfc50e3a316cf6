"""Files: uploads streamed into the file store under the channel's limit, and downloads of
a conversation's files with a Content-Disposition that no file name can break."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Annotated, Optional
from urllib.parse import quote, unquote

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from tray_agent.api import uploads
from tray_agent.api.deps import AgentId, InboxDep
from tray_agent.api.schemas import Id, UploadView
from tray_agent.core.errors import FileTooLarge, InvalidInput, TrayAgentError
from tray_agent.core.service import Inbox
from tray_agent.core.rules import sizes_apart

router = APIRouter(prefix="/api", tags=["files"])

#: Types a browser may show in place; anything else (SVG and HTML above all) downloads.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_BIDI = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


#: How long an upload's body may pause: a client that announced more bytes than it sends
#: is answered 400 instead of holding the connection (loopback uploads never stall).
STALL_SECONDS = 5.0
#: The body, as the OpenAPI document describes it: the file's raw bytes.
UPLOAD_BODY = {"requestBody": {"required": True, "description": "The file's bytes; Content-Type names its type.",
                               "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}}}


@router.post("/uploads", response_model=UploadView, status_code=201, openapi_extra=UPLOAD_BODY)
async def upload(request: Request, inbox: InboxDep, agent: AgentId,
                 x_file_name: Annotated[str, Header(min_length=1, max_length=2000,
                                                    description="The file's name, percent-encoded UTF-8.")],
                 conversation_id: Optional[Id] = None, channel_id: Optional[Id] = None) -> UploadView:
    """Stage a file (the raw request body) for a reply in ``conversation_id`` or a new
    conversation on ``channel_id``. Over the channel's limit it is refused with 413 before
    anything is stored (by Content-Length), or as soon as the stream passes the limit."""
    if (conversation_id is None) == (channel_id is None):
        raise InvalidInput("Upload for either a conversation_id or a channel_id.")
    limit, label = await run_in_threadpool(upload_limit, inbox, agent, conversation_id, channel_id)
    name = unquote(x_file_name)
    refuse_oversized(request, name, limit, label)
    mime = (request.headers.get("content-type") or "").split(";")[0].strip().lower() or "application/octet-stream"
    staged = await run_in_threadpool(inbox.files.stage, _body_chunks(request), name, mime, limit)
    return UploadView(upload_id=uploads.issue(request, agent, staged), file_name=staged.file_name,
                      mime_type=staged.mime_type, size=staged.size, sha256=staged.sha256)


def upload_limit(inbox: Inbox, agent_id: int, conversation_id: int | None,
                 channel_id: int | None) -> tuple[int, str]:
    """The largest file a reply in ``conversation_id`` (visible to the agent), a new
    conversation on ``channel_id``, or — with neither — any channel takes, and its label."""
    if conversation_id is not None:
        detail = inbox.get_conversation(agent_id, conversation_id)
        return detail.composer.max_file_bytes, detail.channel_label
    if channel_id is not None:
        ch = inbox.get_channel(channel_id)
        return int(ch.rules["max_file_bytes"]), ch.label
    limits = [(int(ch.rules["max_file_bytes"]), ch.label) for ch in inbox.list_channels()]
    if not limits:
        raise InvalidInput("No channel is set up to send files on.")
    return max(limits)[0], "any channel here"


def refuse_oversized(request: Request, name: str, limit: int, label: str, overhead: int = 0) -> None:
    """413 before anything is stored when the announced body is over the limit (``overhead``:
    what a multipart body adds around the file)."""
    # The server has checked the header is a number (else it answered 400 itself).
    content_length = int(request.headers.get("content-length") or 0) - overhead
    if content_length > limit:
        got, most = sizes_apart(content_length, limit)
        raise FileTooLarge(f"{name!r} is {got}; {label} takes files up to {most}. It was not uploaded.")


def _body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a blocking iterator, for ``FileStore.stage`` in a worker thread:
    each chunk is awaited on the event loop, so nothing is buffered whole."""
    loop = asyncio.get_running_loop()
    stream = request.stream().__aiter__()

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = asyncio.run_coroutine_threadsafe(
                    asyncio.wait_for(stream.__anext__(), STALL_SECONDS), loop).result()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise TrayAgentError(f"The upload stopped for {STALL_SECONDS:g} s before its "
                                     "Content-Length was reached; it was not stored.") from None
            if chunk:
                yield chunk

    return chunks()


@router.get("/attachments/{attachment_id}", response_class=FileResponse)
def download(attachment_id: Id, inbox: InboxDep, agent: AgentId, inline: bool = False) -> FileResponse:
    """A file of a conversation the agent sees. ``inline=true`` shows plain images in place
    (thumbnails); every other type always downloads."""
    view, path = inbox.attachment_file(agent, attachment_id)
    show_inline = inline and view.mime_type in INLINE_TYPES
    return FileResponse(path, media_type=view.mime_type if show_inline else "application/octet-stream",
                        headers={"Content-Disposition": content_disposition(view.file_name, show_inline),
                                 # Opened on its own, a file is never a page that runs anything.
                                 "Content-Security-Policy": "default-src 'none'; sandbox",
                                 "Cache-Control": "private, max-age=3600"})


def content_disposition(name: str, inline: bool = False) -> str:
    """Both forms: an ASCII fallback with nothing that ends the quoted string, and the
    exact UTF-8 name percent-encoded (RFC 6266 / 5987). Bidi controls are dropped, so
    ``photo\u202egnp.exe`` cannot pose as a picture in the save dialog."""
    clean = _BIDI.sub("", name) or "file"
    fallback = re.sub(r'[^\x20-\x7e]|["\\%;]', "_", clean)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"
