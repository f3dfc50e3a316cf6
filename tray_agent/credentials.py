"""Channel credentials: the OS keyring, with an environment-variable override for servers
and CI (``TRAY_AGENT_SECRET_<CHANNEL>_<NAME>``), and values held in this process's memory
only (the auto-started sandbox's fake credentials: not the environment, which child
processes inherit and which must not change once GUI threads read it). Never written to
the config file or logs: every value read or held here is remembered, and ``redact`` (which
the log set-up and user-facing errors apply) replaces it, and credentials recognisable by
their shape in URLs and headers, with ``***``."""

from __future__ import annotations

import os
import re
import threading

SERVICE = "tray-agent"
MASK = "***"
#: Shorter values are not credentials worth the risk of masking ordinary words in logs.
MIN_REDACTED_LENGTH = 6
ENV_PREFIX = "TRAY_AGENT_SECRET_"

#: Credentials recognisable by their shape wherever they appear: in a URL's query or
#: path, in a header, or in a URL's user-info. Group 1 is kept, the rest masked.
_SHAPES = [
    # Telegram bot tokens: /bot123456:ABC.../getUpdates, or the bare token anywhere.
    re.compile(r"(/(?:file/)?bot)\d+:[^/\s?#'\"]+"),
    re.compile(r"(\b)\d{5,}:[A-Za-z0-9_-]{30,}"),
    # Query and form parameters that carry credentials (hub.verify_token, access_token, ...).
    re.compile(r"(?i)([?&;]\s*(?:[\w.-]*token|[\w.-]*secret|password|passwd|api_?key|key|signature|sig|"
               r"auth|code)=)[^&\s'\"#]+"),
    # Headers and JSON fields: Authorization: Bearer xyz, "access_token": "xyz".
    re.compile(r"(?i)((?:authorization|proxy-authorization|x-twilio-signature|x-hub-signature(?:-256)?|"
               r"x-telegram-bot-api-secret-token|x-api-key|cookie)['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n]+"),
    re.compile(r"(?i)(['\"](?:[\w-]*token|[\w-]*secret|password|api_?key)['\"]\s*:\s*['\"])[^'\"]+"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # https://user:password@host
    re.compile(r"(://[^/\s:@]+:)[^/\s@]+(?=@)"),
]


def env_name(channel: str, name: str) -> str:
    return "TRAY_AGENT_SECRET_" + re.sub(r"[^A-Z0-9]+", "_", f"{channel}_{name}".upper()).strip("_")


_held: dict[str, str] = {}
_known: set[str] = set()
_known_re: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember(value: str | None) -> None:
    """Redact ``value`` from every log line and user-facing error from now on."""
    global _known_re
    if not value or len(value) < MIN_REDACTED_LENGTH or value in _known:
        return
    with _lock:
        _known.add(value)
        # Longest first, so a secret containing another is masked whole.
        _known_re = re.compile("|".join(re.escape(v) for v in sorted(_known, key=len, reverse=True)))


def remember_environment() -> None:
    """Remember the credentials handed to this process in ``TRAY_AGENT_SECRET_*``."""
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIX):
            remember(value)


def redact(text: str) -> str:
    """``text`` with every known credential, and every credential-shaped value, masked."""
    known = _known_re
    if known is not None:
        text = known.sub(MASK, text)
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def hold(channel: str, name: str, value: str) -> None:
    """Keep a credential in memory for this process only (see the module's docstring)."""
    remember(value)
    _held[env_name(channel, name)] = value


def release(channel: str, name: str) -> None:
    _held.pop(env_name(channel, name), None)


def get(channel: str, name: str) -> str | None:
    value = _held.get(env_name(channel, name)) or os.environ.get(env_name(channel, name))
    if not value:
        try:
            import keyring

            value = keyring.get_password(SERVICE, f"{channel}:{name}")
        except Exception:  # no keyring back-end on this machine: treat as not set
            return None
    remember(value)
    return value or None


def put(channel: str, name: str, value: str) -> None:
    """Store a credential in the OS keyring; raises with a one-line reason if there is none."""
    import keyring
    from keyring.errors import KeyringError

    from tray_agent.core.errors import TrayAgentError

    remember(value)
    try:
        keyring.set_password(SERVICE, f"{channel}:{name}", value)
    except KeyringError as exc:
        raise TrayAgentError(
            f"No OS keyring is available to store {name} ({exc}); set {env_name(channel, name)} instead."
        ) from None


def unwritable() -> str | None:
    """Why the OS keyring cannot keep a secret right now (one line), or None when it can:
    asked before something is spent to get one, such as a one-time sign-in code."""
    import keyring

    probe = f"probe:{os.getpid()}"
    try:
        keyring.set_password(SERVICE, probe, "probe")
        keyring.delete_password(SERVICE, probe)
    except Exception as exc:  # no back-end, a locked one, no D-Bus session: all mean "cannot"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def delete(channel: str, name: str) -> None:
    try:
        import keyring

        keyring.delete_password(SERVICE, f"{channel}:{name}")
    except Exception:
        pass
