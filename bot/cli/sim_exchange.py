"""`ltbot sim-exchange`: serve recorded data as a loopback Binance USDⓈ-M REST API."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.adapters.sim.exchange import SimDataError, SimExchange
from bot.cli.common import is_loopback


def sim_exchange_command(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Data directory (freqtrade feather/CSV layout, searched recursively; its "
            "*exchangeInfo*.json, else the bundled USDⓈ-M one of 2025-12-24, lists any "
            "perpetual with data); default: the bundled BTC/ETH sample.",
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", help="TCP port on 127.0.0.1 (0 = any free port).")
    ] = 8765,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Simulated seconds per wall-clock second (0 = frozen clock)."),
    ] = 60.0,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Simulated start time, ISO 8601 UTC (e.g. 2024-03-10T00:00); "
            "default: the first time every symbol has data.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (keep it on loopback).")
    ] = "127.0.0.1",
) -> None:
    """Serve recorded market data as Binance USDⓈ-M public REST on a simulated clock.

    Prints the URL, then serves until Ctrl-C or SIGTERM (exit 0).
    """
    if speed < 0:
        raise _fail("--speed must be >= 0")
    if not 0 <= port <= 65535:
        raise _fail("--port must be between 0 and 65535")
    if not is_loopback(host):
        typer.echo(
            f"warning: --host {host} is not a loopback address: the sim exchange is reachable "
            "from other machines",
            err=True,
        )
    try:
        at = _parse_start(start)
        sim = SimExchange(data, speed=speed, start=at, host=host, port=port)
        sim.start()
    except (SimDataError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Both signals set the event, installed before the URL is printed: a caller may signal as
    # soon as it reads it, and a background job may have been started with SIGINT ignored.
    stopped = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stopped.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        typer.echo(f"sim exchange: {sim.url}  (ccxt fapiPublic = {sim.url}/fapi/v1)")
        typer.echo(
            f"symbols {', '.join(sim.symbols)}; data {sim.data_start:%Y-%m-%d %H:%M} .. "
            f"{sim.data_end:%Y-%m-%d %H:%M} UTC; clock {sim.now():%Y-%m-%d %H:%M} at {speed:g}x. "
            "Ctrl-C stops."
        )
        stopped.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sim.stop()
    typer.echo("sim exchange stopped")


def _parse_start(start: str | None) -> datetime | None:
    if start is None:
        return None
    try:
        at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start: not an ISO 8601 time: {start!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)
