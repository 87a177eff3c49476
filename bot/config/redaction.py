"""Secrets out of what ltbot stores and logs: `runs.config`, the log files.

A value is secret when its key looks like one (`webhook_url`, `telegram_chat_id`, any key with
`secret`, `token`, `password`, `api_key`, `private_key` or `chat_id` in its name, at any depth:
the `[report]` keys, a strategy's params); a secret URL keeps its scheme and host
(`https://hooks.slack.com/***`) so the ledger still says where reports went. Any other URL loses
its `user:password@` part. Works on the JSON form of the settings (plain dicts and lists), so
this module imports nothing of the config models.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
SECRET_KEY = re.compile(
    r"webhook_url|chat_id|secret|token|password|passwd|api_?key|private_?key|credential",
    re.IGNORECASE,
)
# Shorter values would mask ordinary words and numbers in log lines.
MIN_SCRUBBED_LENGTH = 5


def redact(document: Any) -> Any:
    """A copy of `document` (JSON-like data) with every secret replaced by "***"."""
    if isinstance(document, dict):
        return {key: _redact_item(str(key), value) for key, value in document.items()}
    if isinstance(document, list):
        return [redact(item) for item in document]
    if isinstance(document, str):
        return _without_userinfo(document)
    return document


def secret_texts(document: Any) -> list[str]:
    """Every secret text in `document` that a log line might quote, longest first: whole
    values, and the path of secret URLs (where a webhook's token lives)."""
    found: set[str] = set()
    _collect(document, found, secret=False)
    return sorted((t for t in found if len(t) >= MIN_SCRUBBED_LENGTH), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every one of `secrets` replaced by "***"."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_item(key: str, value: Any) -> Any:
    if value is None or value == "" or not SECRET_KEY.search(key):
        return redact(value)
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or ''}/{MASK}"
    return MASK


def _without_userinfo(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    scheme, _, rest = text.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return text
    return f"{scheme}://{MASK}@{authority.rsplit('@', 1)[1]}{slash}{path}"


def _collect(document: Any, found: set[str], secret: bool) -> None:
    if isinstance(document, dict):
        for key, value in document.items():
            _collect(value, found, secret or bool(SECRET_KEY.search(str(key))))
    elif isinstance(document, list):
        for item in document:
            _collect(item, found, secret)
    elif isinstance(document, str | int) and not isinstance(document, bool) and secret:
        text = str(document)
        found.add(text)
        if "://" in text:
            parts = urlsplit(text)
            found.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    elif isinstance(document, str) and "://" in document:
        userinfo = urlsplit(document).netloc.rpartition("@")[0]
        if userinfo:
            found.add(userinfo)
