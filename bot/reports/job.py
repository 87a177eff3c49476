"""The non-pure part of reports: read the store, build, render, write files, store metrics, notify.

`run_daily_report(store, settings, day)` writes `<out_dir>/YYYY-MM-DD.md` and `.html` (each to a
temporary file in `out_dir`, fsynced, then renamed over the target: a reader or a job killed at
any point sees the old file or the new one, never half of one; the same ledger gives
byte-identical files), then replaces that day's rows in `report_metrics` in one transaction and
posts the optional webhook. The metrics are written last: they are the mark that the day's
report is complete.

`catch_up_reports(settings, now)` writes every daily report missed since the last one: the
local days after the last single-day period in `report_metrics` (or, when there is none, from
the ledger's first NAV row), up to yesterday, restricted to the days the NAV rows span (a day the
daemon was down for as a whole has no data and gets no report). A job killed after the files and
before the metrics leaves its day to be written again. `daily_report_job(settings, now)` is what
the scheduler calls: it opens its own Store (APScheduler runs jobs in a worker thread and a SQLite
connection belongs to its thread), catches up the missed days, reports the previous local day,
and never raises.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from bot.adapters.sqlite.coverage import nav_span, reported_days
from bot.adapters.sqlite.queries import LedgerQueries
from bot.adapters.sqlite.store import Store
from bot.adapters.sqlite.writer import LedgerWriter
from bot.config.settings import Settings
from bot.config.vehicles import parse_vehicle
from bot.domain.token_presets import token_spec
from bot.domain.token_spec import TokenSpec
from bot.domain.values import Side
from bot.reports.coverage import coverage_notes, run_coverage
from bot.reports.model import (
    DEFAULT_RANK_BY,
    FEE_KINDS,
    LedgerRows,
    Report,
    ReportPeriod,
    build_report,
    period_for,
)
from bot.reports.notify import post_webhook, summary_text
from bot.reports.render_html import render_html
from bot.reports.render_markdown import render_markdown


@dataclass(frozen=True, slots=True)
class ReportOutput:
    """What a report run produced: the model, the two files, and whether the webhook got it
    (None when no webhook is configured or notification was not asked for)."""

    report: Report
    markdown: Path
    html: Path
    notified: bool | None


def previous_day(now: datetime, timezone: str) -> date:
    """The local calendar day before `now` in `timezone` (the day a daily job reports)."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def load_report(
    store: LedgerQueries, period: ReportPeriod, rank_by: str = DEFAULT_RANK_BY
) -> Report:
    """Build the report of `period` from the ledger alone (never from today's config), each
    experiment ranked by `rank_by` (see `build_report`).

    A token's target leverage comes from the vehicle parameters stored when its portfolio was
    created; for a ledger written before they were stored, from the preset's defaults with
    the overrides written in the vehicle label, and the report says so in one line.
    """
    rows = store.report_rows(period.start, period.end)
    specs, from_labels = _token_specs(rows["portfolios"], store)
    targets = {pid: _target_leverage(tokens) for pid, tokens in specs.items()}
    notes = []
    if from_labels:
        notes.append(
            f"No vehicle parameters stored for {', '.join(from_labels)} (a ledger written "
            "before they were): token targets use the preset's defaults and the overrides in "
            "the vehicle label, not the [presets] config of the run."
        )
    notes += coverage_notes(run_coverage(store), period.start, period.end)
    return build_report(LedgerRows.from_mapping(rows), period, targets, notes, rank_by)


def _token_specs(
    portfolios: Sequence[Mapping[str, Any]], store: LedgerQueries
) -> tuple[dict[str, Mapping[Side, TokenSpec]], list[str]]:
    # Each token portfolio's specs by side, from its stored vehicle parameters or, when none
    # are stored, from its vehicle label; and the ids of the latter (in the given order).
    stored = store.vehicle_params()
    specs: dict[str, Mapping[Side, TokenSpec]] = {}
    from_labels = []
    for row in portfolios:
        pid, label = str(row["id"]), str(row["vehicle"])
        if not label.startswith("token:"):
            continue
        if pid in stored:
            specs[pid] = stored[pid].tokens
            continue
        from_labels.append(pid)
        try:
            vehicle = parse_vehicle(label)
            specs[pid] = {s: token_spec(str(vehicle.preset), s, vehicle.params) for s in Side}
        except ValueError as exc:  # a preset gone since: the model infers L from the ledger
            logger.debug("no preset leverage for {}: {}", pid, exc)
    return specs, from_labels


def write_report(store: LedgerWriter, report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write `<label>.md` and `<label>.html` to `out_dir` and store the metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / f"{report.period.label}.md"
    html = out_dir / f"{report.period.label}.html"
    _write_atomic(markdown, render_markdown(report))
    _write_atomic(html, render_html(report))
    p = report.period
    store.write_report_metrics(p.label, p.start, p.end, p.timezone, metric_rows(report))
    return markdown, html


def run_report(
    store: Store, settings: Settings, first: date, last: date, notify: bool = False
) -> ReportOutput:
    """Report the local days `first`..`last`: files, stored metrics, optional webhook."""
    period = period_for(first, last, settings.report.timezone)
    report = load_report(store, period, settings.report.rank_by)
    markdown, html = write_report(store, report, settings.report.out_dir)
    logger.info("report {} written: {} and {}", period.label, markdown, html)
    notified = None
    url = (settings.report.webhook_url or "").strip()
    if notify and url:
        notified = post_webhook(
            url,
            settings.report.webhook_format,
            summary_text(report),
            settings.report.telegram_chat_id,
        )
    return ReportOutput(report, markdown, html, notified)


def run_daily_report(store: Store, settings: Settings, day: date) -> ReportOutput:
    """The daily summary of local `day`: files, stored metrics and the webhook if configured."""
    return run_report(store, settings, day, day, notify=True)


def daily_report_job(settings: Settings, now: datetime) -> None:
    """Scheduler entry point: catch up the days missed before yesterday, then report the day
    before `now` (with the webhook); log every failure, never raise."""
    try:
        day = previous_day(now, settings.report.timezone)
        with Store(settings.store.path) as store:
            for missed in missed_days(store, settings.report.timezone, day - timedelta(days=1)):
                _report_day(store, settings, missed, notify=False)
            run_daily_report(store, settings, day)
    except Exception:
        logger.exception("daily report failed; the daemon carries on")


def catch_up_reports(settings: Settings, now: datetime, notify: bool = True) -> list[date]:
    """Write every daily report missed since the last one written, up to the day before `now`
    (see the module docstring); return the days written, in order. Never raises: a day that
    fails is logged and left for the next catch-up. With `notify`, the webhook gets yesterday's
    summary when yesterday is among them (older days are written quietly)."""
    written: list[date] = []
    try:
        yesterday = previous_day(now, settings.report.timezone)
        sweep_temp_files(settings.report.out_dir)
        with Store(settings.store.path) as store:
            for day in missed_days(store, settings.report.timezone, yesterday):
                if _report_day(store, settings, day, notify=notify and day == yesterday):
                    written.append(day)
    except Exception:
        logger.exception("report catch-up failed; the daemon carries on")
    if written:
        logger.info("caught up {} missed daily report(s): {}", len(written), _days(written))
    return written


def missed_days(store: LedgerQueries, timezone: str, until: date) -> list[date]:
    """Local days after the last reported day (or from the first NAV row's day when none is
    reported), up to `until` and to the last NAV row's day, in order."""
    span = nav_span(store.db)
    if span is None:
        return []
    zone = ZoneInfo(timezone)
    first, last = (at.astimezone(zone).date() for at in span)
    done = reported_days(store.db)
    if done:
        first = max(first, date.fromisoformat(done[-1]) + timedelta(days=1))
    last = min(last, until)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def sweep_temp_files(out_dir: Path) -> list[Path]:
    """Delete the temporary files a report write killed before its rename left in `out_dir`
    (`.<label>.md.<random>.tmp`); return them. Only at start-up: a report being written by
    another process at that moment would lose its temporary file (and fail, loudly)."""
    if not out_dir.is_dir():
        return []
    stale = sorted(p for p in out_dir.glob(".*.tmp") if _TEMP_NAME.match(p.name) and p.is_file())
    for path in stale:
        path.unlink(missing_ok=True)
        logger.info("removed {} (a report write that never finished)", path)
    return stale


def _report_day(store: Store, settings: Settings, day: date, notify: bool) -> bool:
    try:
        run_report(store, settings, day, day, notify=notify)
    except Exception:
        logger.exception("daily report of {} failed; the next catch-up writes it", day)
        return False
    return True


def _days(days: Sequence[date]) -> str:
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()}..{days[-1].isoformat()}"


def metric_rows(report: Report) -> list[tuple[str, str, float | None]]:
    """(portfolio_id, metric, value) rows for `report_metrics` (fractions, USDT, counts)."""
    out: list[tuple[str, str, float | None]] = []
    for e in report.experiments:
        for rank, p in enumerate(e.portfolios, 1):
            values: dict[str, float | None] = {
                "rank": rank, "nav_start": p.nav_start, "nav_end": p.nav_end,
                "return": p.total_return, "max_drawdown": p.max_drawdown,
                "volatility": p.volatility, "sharpe": p.sharpe, "sortino": p.sortino,
                "calmar": p.calmar, "annual_return": p.annual_return,
                "underwater_days": p.underwater.total_seconds() / 86400, "fills": p.fills,
                "stops": p.stops, "take_profits": p.take_profits,
                "liquidations": p.liquidations, "rebalances": p.rebalances,
                "reverse_splits": p.reverse_splits, "funding_paid": p.funding_paid,
                "funding_received": p.funding_received, "exposure_end": p.exposure_end,
                "leverage_end": p.leverage_end, "price_start": p.price_start,
                "price_end": p.price_end,
            }  # fmt: skip
            values |= {f"fee_{k}": p.fees.get(k, 0.0) for k in FEE_KINDS}
            if p.token is not None:
                t = p.token
                values |= {
                    "token_target_leverage": t.target_leverage,
                    "token_benchmark": t.benchmark_log, "token_log_return": t.token_log,
                    "token_gap": t.gap, "token_decay": t.decay, "token_rebalancing": t.rebalancing,
                    "token_management": t.management, "token_funding": t.funding,
                    "token_subscription_redemption": t.subscription_redemption,
                    "token_realised_variance": t.realised_variance,
                    "token_decay_estimate": t.decay_estimate,
                }  # fmt: skip
            out += [(p.id, name, _float(v)) for name, v in sorted(values.items())]
    return out


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


# `_write_atomic`'s temporary names for a report's files: `.<label>.<md|html>.<random>.tmp`.
_TEMP_NAME = re.compile(r"^\.\d{4}-\d{2}-\d{2}(\.\.\d{4}-\d{2}-\d{2})?\.(md|html)\.\w+\.tmp$")


def _write_atomic(path: Path, text: str) -> None:
    # Write beside the target (same file system) and rename, so a reader never sees half a
    # report; the fsync before the rename keeps a power cut from leaving an empty file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _target_leverage(tokens: Mapping[Side, TokenSpec]) -> tuple[float, float]:
    # |L| of the token bought on a long and on a short signal; a fixed-direction family has
    # one token, bought on either.
    only = next(iter(tokens.values()))
    return (
        abs(tokens.get(Side.LONG, only).target_leverage),
        abs(tokens.get(Side.SHORT, only).target_leverage),
    )
