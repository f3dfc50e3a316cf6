"""The attachment store: files on disk under the data directory, never named by the user.

Uploads are streamed into a staging file with a running size check and sha256, so an
oversized file is refused as soon as it passes the limit and never fills the disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tray_agent.core.errors import FileTooLarge, InvalidInput
from tray_agent.core.rules import human_size

CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedFile:
    """A file received in full and checked, waiting to be attached to a message."""

    token: str
    file_name: str
    mime_type: str
    size: int
    sha256: str
    path: Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / "staging"
        self.staging.mkdir(parents=True, exist_ok=True)

    def stage(
        self, chunks: Iterable[bytes], file_name: str, mime_type: str, max_bytes: int
    ) -> StagedFile:
        name = safe_file_name(file_name)
        token = secrets.token_urlsafe(16)
        path = self.staging / token
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(f"{name!r} is over the {human_size(max_bytes)} limit; it was not uploaded.")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise InvalidInput(f"{name!r} is empty.")
        return StagedFile(token, name, mime_type or "application/octet-stream", size, digest.hexdigest(), path)

    def stage_bytes(self, data: bytes, file_name: str, mime_type: str, max_bytes: int) -> StagedFile:
        return self.stage([data], file_name, mime_type, max_bytes)

    def staged(self, token: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,64}", token or ""):
            raise InvalidInput("That upload id is malformed.")
        path = self.staging / token
        if not path.exists():
            raise InvalidInput("That upload is unknown or has already been sent; upload the file again.")
        return path

    def adopt(self, staged: StagedFile) -> str:
        """Move a staged file to its permanent place; return its path relative to the root."""
        rel = Path(staged.sha256[:2]) / f"{staged.token}"
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged.path), dest)
        return rel.as_posix()

    def path(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if self.root.resolve() not in p.parents:
            raise InvalidInput("File path escapes the file store.")
        return p

    def delete(self, rel: str) -> None:
        if rel:
            try:
                self.path(rel).unlink(missing_ok=True)
            except OSError:
                pass

    def discard_staging_older_than(self, seconds: float, now_ts: float) -> int:
        n = 0
        for p in self.staging.iterdir():
            try:
                if now_ts - p.stat().st_mtime > seconds:
                    p.unlink()
                    n += 1
            except OSError:
                continue
        return n


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_file_name(name: str) -> str:
    """A file name fit to show and to offer for download: no paths, no control characters."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _UNSAFE.sub("_", base).strip(". ") or "file"
    return base[:200]
