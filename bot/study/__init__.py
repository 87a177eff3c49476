"""Studies: many replays (symbols x windows x parameter grids) with a metrics sink.

From a notebook::

    from bot.study import run_study
    frame = run_study("study.toml", workers=2)   # a pandas DataFrame, one row per cell x vehicle
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bot.study.config import StudyConfig, load_study_config, study_config_from
from bot.study.results import load_results
from bot.study.runner import run_study_file

__all__ = ["run_study"]


def run_study(
    config: str | Path | dict[str, Any] | StudyConfig,
    workers: int = 1,
    new: bool = False,
) -> pd.DataFrame:
    """Run a study in-process (`workers` 1) or on a local pool; return every result row.

    `config`: a study TOML path, a dict shaped like one (relative paths from the working
    directory) or a StudyConfig. Cells already in the study file are not run again.
    """
    if isinstance(config, str | Path):
        study = load_study_config(Path(config))
    elif isinstance(config, dict):
        study = study_config_from(config, Path.cwd())
    else:
        study = config
    run_study_file(study, workers, new=new)
    return load_results(study.study.db)
