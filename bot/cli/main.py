"""The `ltbot` command line: parse, build, call. No business logic lives here.

Exit codes: 0 success, 2 bad input (config, arguments, data), 1 unexpected failure.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot import __version__
from bot.cli.calibrate import calibrate_command
from bot.cli.common import CONTEXT, QuietOption, VerboseOption, fail, verbosity
from bot.cli.config_cmd import config_check, config_show
from bot.cli.download import download_command
from bot.cli.presets import presets_command
from bot.cli.replay import replay_command
from bot.cli.report import report_command
from bot.cli.run import demo_command, run_command, status_command
from bot.cli.serve import serve_command
from bot.cli.sim_exchange import sim_exchange_command
from bot.cli.strategies import strategies_command
from bot.cli.study import study_app
from bot.runtime.log_setup import configure_logging

app = typer.Typer(
    name="ltbot",
    help="Paper-trade leveraged tokens against stop-loss perpetuals on live exchange data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=CONTEXT,
)
config_app = typer.Typer(
    help="Inspect and validate configuration.", no_args_is_help=True, context_settings=CONTEXT
)
app.add_typer(config_app, name="config")
app.add_typer(study_app, name="study")
config_app.command("check")(config_check)
config_app.command("show")(config_show)
app.command("run")(run_command)
app.command("replay")(replay_command)
app.command("demo")(demo_command)
app.command("serve")(serve_command)
app.command("status")(status_command)
app.command("strategies")(strategies_command)
app.command("presets")(presets_command)
app.command("report")(report_command)
app.command("download")(download_command)
app.command("sim-exchange")(sim_exchange_command)
app.command("calibrate")(calibrate_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ltbot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level", help="Log level, overriding the config's log.level (DEBUG, INFO, ...)."
        ),
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Set up logging for every command."""
    level = (log_level or "INFO").upper()
    ctx.obj = {"log_level": log_level, "quiet": quiet, "verbose": verbose}
    try:
        configure_logging(level, verbosity=verbosity(ctx))
    except ValueError:
        raise fail(f"--log-level: unknown level {log_level!r}") from None


def main() -> None:
    """Console-script entry point."""
    app()
