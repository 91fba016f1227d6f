"""Log redaction: tokens, keys, secrets and credentials never reach a log line.

`RedactingFilter` rewrites each record's final message (arguments already merged), and
replaces an attached traceback by the exception's type — tracebacks can quote request
data and local values. It is installed on every handler uvicorn configures (see
`log_config`) and on the root logger's handlers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
_PATTERNS = [
    # Authorization values and bearer tokens in any text.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # JWTs (three base64url parts, the first being a JSON header).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), REDACTED),
    # Standard Webhooks secrets and OpenAI-style keys.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    # Passwords in URLs (postgresql://user:password@host).
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
    # key=value / "key": "value" for names that hold secrets.
    (
        re.compile(
            r"(?i)((?:api[_-]?key|password|secret|token|authorization)\"?\s*[:=]\s*\"?)"
            r"[^\s\",;&]+"
        ),
        r"\1" + REDACTED,
    ),
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact this exact value too (e.g. the configured admin key), wherever it appears."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not drop the line or raise
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message += f" ({record.exc_info[0].__name__})"
            record.exc_info = None
            record.exc_text = None
        record.stack_info = None
        record.msg = redact(message)
        record.args = None
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging config with the redacting filter on every handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "pressrag.serving.logs.RedactingFilter"}},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(asctime)s %(levelname)s access: %(message)s"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "": {"handlers": ["default"], "level": level},
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }


def install_redaction() -> None:
    """Put the filter on the root logger's handlers (for apps run without `log_config`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
