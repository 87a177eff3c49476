"""A study file's results as one pandas DataFrame: a row per cell x vehicle, with the cell's
symbol, window, strategy, parameters and market regime beside the vehicle's metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bot.adapters.sqlite.study_store import StudyStore
from bot.study.runner import CELL_COLUMNS, RESULT_COLUMNS


def load_results(path: Path) -> pd.DataFrame:
    """Every completed cell x vehicle of a study file, ordered by cell and vehicle."""
    with StudyStore(path, CELL_COLUMNS, RESULT_COLUMNS) as store:
        cells = pd.DataFrame(list(store.rows("cells")))
        results = pd.DataFrame(list(store.rows("results")))
    if results.empty:
        return pd.DataFrame()
    cells = cells.rename(columns={"id": "cell_id"})
    merged = results.merge(cells, on="cell_id", how="left")
    return merged.sort_values(["cell_id", "vehicle"], kind="stable").reset_index(drop=True)
