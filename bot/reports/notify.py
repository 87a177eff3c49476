"""Post the daily summary to a webhook: Telegram, Discord or Slack (stdlib urllib, JSON POST).

Bodies: Telegram `{"chat_id", "text"}` to the bot API URL (`.../bot<token>/sendMessage`),
Discord `{"content"}`, Slack `{"text"}`. A failure (network, timeout, HTTP error) is logged and
swallowed: a webhook never stops the daemon. Logs name only the URL's scheme and host, because
the path of a webhook URL is its secret.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Literal
from urllib.parse import urlsplit

from loguru import logger

from bot.reports.model import Report
from bot.reports.tables import MEASURE_NAMES, pct, pts

WebhookFormat = Literal["telegram", "discord", "slack"]
# Message size limits: Discord 2000 characters, Telegram 4096, Slack about 40000.
_LIMITS = {"telegram": 4096, "discord": 2000, "slack": 3900}


def summary_text(report: Report) -> str:
    """A short plain-text summary: per experiment the ranking (by its measure) with returns."""
    lines = [f"ltbot {report.period.label} ({report.period.timezone})"]
    for e in report.experiments:
        lines.append(
            f"{e.name} ({e.symbol}, underlying {pct(e.underlying_return)}, "
            f"ranked by {MEASURE_NAMES[e.rank_by]}):"
        )
        for rank, p in enumerate(e.portfolios, 1):
            extra = ""
            if p.token is not None:
                extra = f", decay {pts(p.token.decay)} log pts"
            if p.stops or p.liquidations:
                extra += f", stops {p.stops}, liquidations {p.liquidations}"
            if p.died_at is not None:
                extra += f", died {p.died_at:%Y-%m-%d}"
            lines.append(f"  {rank}. {p.vehicle} {pct(p.total_return)}{extra}")
    if not report.experiments:
        lines.append("no portfolios")
    return "\n".join(lines)


def webhook_payload(fmt: WebhookFormat, text: str, chat_id: str | None = None) -> dict[str, str]:
    """The JSON body for `fmt`, with `text` cut to the service's message limit."""
    limit = _LIMITS[fmt]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if fmt == "telegram":
        if not chat_id:
            raise ValueError("report.telegram_chat_id is required for webhook_format 'telegram'")
        return {"chat_id": chat_id, "text": text}
    if fmt == "discord":
        return {"content": text}
    return {"text": text}


def post_webhook(
    url: str,
    fmt: WebhookFormat,
    text: str,
    chat_id: str | None = None,
    timeout: float = 10.0,
) -> bool:
    """POST the summary; True on a 2xx answer, False (logged, never raised) on any failure."""
    where = _redacted(url)
    try:
        body = json.dumps(webhook_payload(fmt, text, chat_id)).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "ltbot"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        logger.warning("webhook {} ({}) answered HTTP {}: not delivered", where, fmt, exc.code)
        return False
    except Exception as exc:  # network, timeout, bad URL, bad config: never stop the daemon
        reason = str(exc).replace(url, where)  # e.g. "unknown url type: <url>"
        logger.warning("webhook {} ({}) failed: {}: {}", where, fmt, type(exc).__name__, reason)
        return False
    logger.info("webhook {} ({}) delivered, HTTP {}", where, fmt, status)
    return True


def _redacted(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "<invalid url>"
