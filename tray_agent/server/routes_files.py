"""Files over the sync API: a conversation's files for whoever sees it (404 otherwise; an
expired one answers ``file_expired``), and uploads (multipart ``file``) for a reply with
files, under the same limits and staging as the desktop API's uploads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tray_agent.api import uploads
from tray_agent.api.routes.files import content_disposition, refuse_oversized, upload_limit
from tray_agent.api.schemas import UploadView
from tray_agent.core.errors import InvalidInput
from tray_agent.core.files import CHUNK
from tray_agent.server.deps import AccountsDep, CallerDep, InboxDep
from tray_agent.server.routes_sync import PREFIX

router = APIRouter(prefix=PREFIX, tags=["files"])
#: What a multipart body may add around the file (boundaries, part headers, a long name).
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.get("/conversations/{conversation_id}/files/{attachment_id}", response_class=FileResponse,
            responses={404: {"description": "not_found (not one this agent sees), file_expired"}})
def download(conversation_id: int, attachment_id: int, caller: CallerDep, inbox: InboxDep) -> FileResponse:
    """A file of a conversation this agent sees: its bytes, type and name."""
    view, path = inbox.attachment_file(caller.agent_id, attachment_id, conversation_id)
    return FileResponse(path, media_type=view.mime_type,
                        headers={"Content-Disposition": content_disposition(view.file_name),
                                 # Opened on its own, a file is never a page that runs anything.
                                 "Content-Security-Policy": "default-src 'none'; sandbox",
                                 "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=3600"})


@router.post("/uploads", response_model=UploadView, status_code=201, openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "file_too_large: over the channel's limit"}})
async def upload(request: Request, caller: CallerDep, inbox: InboxDep, accounts: AccountsDep,
                 conversation_id: Annotated[Optional[int], Query(ge=1)] = None) -> UploadView:
    """Stage a file (multipart field ``file``) for ``reply {"uploads": [upload_id]}``. The
    limit is the conversation's channel's when ``conversation_id`` is given, else the largest
    any channel takes (the reply checks its channel's). Refused with 413 before anything is
    stored when the body announces more."""
    limit, label = await run_in_threadpool(upload_limit, inbox, caller.agent_id, conversation_id, None)
    refuse_oversized(request, "The file", limit, label, MULTIPART_OVERHEAD)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Send the file as multipart/form-data, in the field \"file\".")
    try:
        form = await request.form(max_files=1, max_fields=0)
    except HTTPException as exc:  # the parser's refusal: a malformed body, a second file
        raise InvalidInput(f"The upload is not a multipart body this server takes: {exc.detail}") from None
    try:
        f = form.get("file")
        if not isinstance(f, UploadFile) or not f.filename:
            raise InvalidInput("Send the file as the multipart field \"file\" (with its file name).")
        mime = (f.content_type or "").split(";")[0].strip().lower() or "application/octet-stream"
        staged = await run_in_threadpool(inbox.files.stage, _chunks(f), f.filename, mime, limit)
    finally:
        await form.close()
    return UploadView(upload_id=uploads.issue_with(accounts.upload_key(), caller.agent_id, staged),
                      file_name=staged.file_name, mime_type=staged.mime_type, size=staged.size, sha256=staged.sha256)


def _chunks(f: UploadFile) -> Iterator[bytes]:
    """The parsed part's bytes (spooled by the form parser), read in a worker thread."""
    while chunk := f.file.read(CHUNK):
        yield chunk
