"""Where a study cell's time goes (issue 19 point 6: "profile and record what dominates").

Takes cells of the benchmark study (scripts/bench_study.py: 90-day windows of BTC 1h, the 7
default vehicles) and splits one cell's CPU time into layers, each the best of several runs:

- cell: `run_cell` whole (settings, engine, every step, the metrics sink and its results);
- engine: the same steps through `Engine.step` without the sink;
- runner calls: only the calls the engine makes on the 7 portfolio runners (recorded from a
  real run, then replayed on fresh runners: the domain's share);
- engine overhead: the engine with runners that do nothing (validation, the candle screen's
  share, timeline, strategies, NAV collection);
  (these two on the plain build only: a compiled engine calls Python stand-ins more slowly)
- results: folding the sink's records into metrics at the end;
- load: reading one symbol's 6.7 years of 1h data once per process (a worker's start-up).

Run alone: .venv/bin/python scripts/profile_study.py [--cells N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study import DATA, ROOT, build, study_doc  # noqa: E402

from bot.domain.records import NavRecord  # noqa: E402
from bot.engine.candle_screen import CandleScreen  # noqa: E402
from bot.native import compiled  # noqa: E402
from bot.portfolios.protocol import NO_RECORDS, Records  # noqa: E402
from bot.runtime.wiring import build_engine, portfolio_id  # noqa: E402
from bot.study import market, worker  # noqa: E402
from bot.study.config import study_config_from  # noqa: E402
from bot.study.runner import check_study, open_study_file, plan_study  # noqa: E402
from bot.study.sink import MetricsSink  # noqa: E402

CALLS = ("due_events", "apply_event", "apply_funding", "on_path", "on_signal", "drain", "nav")


def best_cpu(run: Callable[[], Any], repeat: int = 5) -> float:
    """The least CPU time of `repeat` runs (seconds)."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


class Recorder:
    """Stands in for a runner: passes every call through and records it."""

    def __init__(self, runner: Any, index: int, log: list[tuple[int, str, tuple[Any, ...]]]):
        self._runner, self._index, self._log = runner, index, log

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._runner, name)
        if name not in CALLS:
            return value

        def call(*args: Any) -> Any:
            self._log.append((self._index, name, args))
            return value(*args)

        return call


class Idle:
    """A runner that does nothing: what the engine costs on its own."""

    def __init__(self, runner: Any) -> None:
        self.id, self.experiment, self.symbol = runner.id, runner.experiment, runner.symbol
        self.has_timed_events = runner.has_timed_events

    def due_events(self, after: Any, until: Any) -> list[Any]:
        return []

    def apply_event(self, event: Any, price: float) -> None:
        return None

    def apply_funding(self, at: Any, rate: float, mark: float) -> None:
        return None

    def on_path(self, points: Any) -> None:
        return None

    def on_signal(self, at: Any, signal: Any, price: float) -> None:
        return None

    def drain(self) -> Records:
        return NO_RECORDS

    def nav(self, at: Any, last: float, mark: float) -> NavRecord:
        return NavRecord(at, 1.0, 1.0, 0.0, 0.0, last)


def profile_cell(task: Any, cell: Any) -> dict[str, float]:
    """CPU seconds per layer for one cell."""
    settings = worker.cell_settings(task, cell)
    updates = market.window_updates(
        market.symbol_data(Path(task.data), cell.symbol), cell.start, cell.end
    )

    def steps(wrap: Callable[[Any, int], Any] | None = None) -> Any:
        engine = build_engine(settings, live=False)
        if wrap is not None:
            for slot in engine.experiments:
                slot.runners[:] = [wrap(r, i) for i, r in enumerate(slot.runners)]
            engine.__init__(engine.experiments, engine.validate)  # type: ignore[misc]
        screen = CandleScreen(None)
        return [engine.step(screen.screen(u, engine.last_quotes)) for u in updates], engine

    log: list[tuple[int, str, tuple[Any, ...]]] = []
    steps(lambda r, i: Recorder(r, i, log))

    def runner_calls() -> None:
        runners = build_engine(settings, live=False).runners
        for index, name, args in log:
            getattr(runners[index], name)(*args)

    experiment = settings.experiments[0]
    vehicles = experiment.vehicles
    targets = {portfolio_id(experiment, v): worker._target(settings, v) for v in vehicles}
    outputs, engine = steps()
    runners = {r.id: r for r in engine.runners}

    def fold_and_results() -> None:
        sink = MetricsSink(cell.start, cell.end, task.capital, targets)
        for output in outputs:
            sink.fold(output, runners)
        sink.results()

    layers = {
        "cell": best_cpu(lambda: worker.run_cell(task, cell)),
        "engine": best_cpu(steps),
        "fold and results": best_cpu(fold_and_results),
        "portfolio steps": float(len(updates) * len(targets)),
    }
    if not compiled():
        # The split needs Python-level runners in the engine's place (Recorder, Idle), which a
        # compiled engine calls more slowly than its own: measured on the plain build only.
        layers["runner calls"] = best_cpu(runner_calls)
        layers["engine overhead"] = best_cpu(lambda: steps(lambda r, i: Idle(r)))
    return layers


def main() -> None:
    """Parse --cells and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=2, help="cells to profile (default 2)")
    report(parser.parse_args().cells)


def report(cells_wanted: int = 2) -> None:
    """Profile the first cells of the benchmark study and print one Markdown table."""
    if not DATA.is_dir():
        print(f"study profile skipped: {DATA} not found", file=sys.stderr)
        return
    logger.remove()
    logger.disable("bot")
    config = study_config_from(study_doc(Path(tempfile.mkdtemp()) / "s.db", True), ROOT)
    with open_study_file(config) as store:
        plan = plan_study(config, store, check_study(config))
    market.clear_cache()
    load = best_cpu(lambda: (market.clear_cache(), market.symbol_data(DATA, "BTC/USDT:USDT")), 3)
    cells = [c for t in plan.tasks for c in t.cells][:cells_wanted]
    task = plan.tasks[0]
    print("| cell | layer | CPU s | us per portfolio-bar step | share of the cell |")
    print("|---|---|---|---|---|")
    for cell in cells:
        layers = profile_cell(task, cell)
        steps = layers.pop("portfolio steps")
        name = f"{cell.strategy} {cell.symbol.split('/')[0]} {cell.start:%Y-%m-%d}"
        for layer, cpu in layers.items():
            share = cpu / layers["cell"]
            print(f"| {name} | {layer} | {cpu:.3f} | {cpu / steps * 1e6:.1f} | {share:.0%} |")
    print(f"\nload one symbol (BTC 1h, 6.7 years) once per process: {load:.2f} s CPU")
    print(f"build: {build()}")


if __name__ == "__main__":
    main()
