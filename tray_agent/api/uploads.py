"""Upload ids: a staged file's facts, signed with a key derived from the API token.

The id carries everything ``StagedFile`` needs, so the API keeps no table of uploads in
memory (a restart or a second replica sharing the file store still accepts it), and the
signature stops a client from naming another agent's upload or changing its size.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence

from fastapi import Request

from tray_agent.api.deps import get_state
from tray_agent.core.errors import InvalidInput
from tray_agent.core.files import FileStore, StagedFile


def _key(request: Request) -> bytes:
    return hashlib.sha256(b"tray-agent uploads\0" + get_state(request).token.encode()).digest()


def issue(request: Request, agent_id: int, f: StagedFile) -> str:
    return issue_with(_key(request), agent_id, f)


def resolve(request: Request, agent_id: int, upload_ids: Sequence[str]) -> list[StagedFile]:
    """The staged files behind ``upload_ids``; InvalidInput for a forged, foreign or spent id."""
    return resolve_with(_key(request), get_state(request).app.inbox.files, agent_id, upload_ids)


def issue_with(key: bytes, agent_id: int, f: StagedFile) -> str:
    """An upload id signed with ``key`` (the desktop's: from its API token; the team
    server's: a secret its replicas share)."""
    payload = json.dumps([f.token, f.file_name, f.mime_type, f.size, f.sha256, agent_id],
                         separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def resolve_with(key: bytes, files: FileStore, agent_id: int, upload_ids: Sequence[str]) -> list[StagedFile]:
    out = []
    for uid in upload_ids:
        body, _, mac = uid.partition(".")
        good = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]
        if not mac or not hmac.compare_digest(mac, good):
            raise InvalidInput("That upload id is not valid; upload the file again.")
        token, name, mime, size, sha, owner = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if owner != agent_id:
            raise InvalidInput("That upload belongs to another agent.")
        out.append(StagedFile(token, name, mime, size, sha, files.staged(token)))
    return out
