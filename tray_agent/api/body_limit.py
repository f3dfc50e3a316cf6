"""Bounded request bodies: refuse by Content-Length before reading, and stop a streamed
(chunked or lying) body at the limit, so no request can make the agent hold more than
its endpoint ever needs — whether or not it turns out to be signed.
"""

from __future__ import annotations

from starlette.requests import Request

from tray_agent.core.errors import TrayAgentError
from tray_agent.core.rules import human_size


class BodyTooLarge(TrayAgentError):
    status = 413
    code = "body_too_large"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes; BodyTooLarge (413) past it. Later calls of
    ``request.body()`` return what was read here."""
    cached = getattr(request, "_body", None)
    if cached is not None:
        return bytes(cached)
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # starlette's own cache: the handler's ``await request.body()`` reuses it
    return body


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is over {human_size(limit)}, more than this endpoint ever receives.")
