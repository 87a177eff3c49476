"""`ltbot serve`: the read-only web view of a ledger (bot.web)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from bot.adapters.sqlite.read_only import ReadOnlyLedger
from bot.adapters.sqlite.store import StoreError
from bot.cli.common import ConfigOption, fail, is_loopback, load, with_database
from bot.web.app import create_app


def serve_command(
    config: ConfigOption = None,
    db: Annotated[Path | None, typer.Option("--db", help="Ledger (default: store.path).")] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (keep it on loopback).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8787,
) -> None:
    """Serve a read-only web view of the ledger: NAV, holdings and leverage as of the last
    step, today's report so far, past daily reports, and a JSON API (/api/status, /api/nav).

    Safe beside a running daemon: the ledger is opened read-only for each request.
    """
    if db is not None and config is None:
        path, timezone = db, "UTC"
    else:
        settings = with_database(load(config), db)
        path, timezone = settings.store.path, settings.report.timezone
    if not 0 <= port <= 65535:
        raise fail("--port must be between 0 and 65535")
    try:
        with ReadOnlyLedger(path):
            pass  # a missing or foreign file is one line and exit 2, before listening
    except StoreError as exc:
        raise fail(str(exc)) from None
    if not is_loopback(host):
        typer.echo(
            f"warning: --host {host} is not a loopback address: the ledger's view is reachable "
            "from other machines (no authentication)",
            err=True,
        )
    typer.echo(f"ltbot serve: http://{host}:{port}/ over {path} (read-only). Ctrl-C stops.")
    config_ = uvicorn.Config(create_app(path, timezone), host=host, port=port, log_level="warning")
    _Server(config_).run()


class _Server(uvicorn.Server):
    """uvicorn's server, ending with exit 0 on SIGINT or SIGTERM like every ltbot command
    (uvicorn raises the signal again after its graceful shutdown, which kills the process)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop without waiting
        else:
            self.should_exit = True
