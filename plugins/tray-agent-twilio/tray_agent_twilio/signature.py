"""X-Twilio-Signature: HMAC over the exact URL Twilio called plus every POST parameter.

The algorithm of twilio-python's ``RequestValidator``: the URL, then for each parameter
name (sorted) each distinct value (sorted) appended as ``name + value``; HMAC-SHA1 with
the Auth Token (or SHA-256 when Webhook Rules say so), base64, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def compute(token: str, url: str, params: Iterable[tuple[str, str]], algorithm: str = "HMAC_SHA1") -> str:
    """The signature Twilio sends for a request to ``url`` carrying ``params``."""
    digest = _HASHES.get(algorithm.upper())
    if digest is None:
        raise ValueError(f"Unsupported Twilio signature algorithm {algorithm!r}")
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    parts = [url]
    for name in sorted(by_name):
        parts.extend(name + value for value in sorted(by_name[name]))
    mac = hmac.new(token.encode("utf-8"), "".join(parts).encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def algorithm_from(settings_header: str | None) -> str:
    """The algorithm named in X-Twilio-Webhooks-Signature-Settings (default HMAC_SHA1)."""
    for part in (settings_header or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def url_variants(url: str) -> list[str]:
    """``url`` with and without its scheme's default port: Twilio is inconsistent about it."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}"))
        return [url, with_port]
    if parts.port == default:
        return [url, urlunsplit(parts._replace(netloc=f"{prefix}{host}"))]
    return [url]


def is_valid(token: str, urls: Sequence[str], params: Sequence[tuple[str, str]], signature: str | None,
             algorithm: str = "HMAC_SHA1") -> bool:
    """Does ``signature`` match a request to any of ``urls`` (and their port variants)?"""
    if not token or not signature or algorithm.upper() not in _HASHES:
        return False
    given = signature.strip().encode("ascii", "replace")
    seen: set[str] = set()
    for url in urls:
        for candidate in url_variants(url):
            if candidate in seen:
                continue
            seen.add(candidate)
            expected = compute(token, candidate, params, algorithm).encode("ascii")
            if hmac.compare_digest(expected, given):
                return True
    return False
