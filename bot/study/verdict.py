"""The verdict of a study: per (token, perp) pair, the log-return gap across cells, the win rate,
the same split by market regime, and what explains the gap.

Conventions:
- gap = token log return - perp log return over the same cell (symbol x window x strategy
  parameters), natural logs; a portfolio whose NAV reached 0 has no log return: its cells are
  left out of the gap statistics but counted in the win rate (a dead token lost).
- The token wins a cell when its final NAV is above the perp's (ties count as losses).
- Win-rate intervals: Wilson score interval at 95 % (z = 1.96), which stays inside [0, 1] and
  behaves with few cells (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over Wald's),
  twice: over the cells as if independent, and over time blocks. Cells are not independent:
  overlapping windows share their market, and so do the symbols and strategies of one window.
  A time block is a run of windows in start order that begin before the block's first window
  ends (`time_blocks`); the second interval counts each block once (n = blocks, at the same win
  rate), as if its cells moved together. The first is too narrow, the second errs wide; the
  truth lies between (the report shows both, the first paragraph the block one).
- Regimes are terciles over the study's cells (by rank, so ties split evenly): trend efficiency
  (|net log move| / path length of bar closes), realised volatility, mean settled funding rate.
- Attribution of the mean gap, exact over the cells where both log returns and the token's
  attribution exist: token log = benchmark (L x the underlying's log move while held) + decay
  + rebalancing + management + funding + subscription/redemption (bot/reports/decay.py), and
  perp log = gross + fees + funding, with the perp's fees and net funding taken as fractions of
  capital (negative = cost) and `gross` the rest (its trades' price moves, stops included). So
      gap = exposure (benchmark - perp gross) + the token's five terms - perp fees - perp funding,
  every term signed as a contribution to the gap: positive favours the token. Stops per cell
  are counted beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

Z95 = 1.96
REGIMES = (
    ("trend_efficiency", "trend efficiency"),
    ("realised_vol", "realised volatility"),
    ("funding_mean", "funding level"),
)
TERCILES = ("low", "mid", "high")
TOKEN_TERMS = ("decay", "rebalancing", "management", "funding", "subscription_redemption")
# Contributions to the mean gap, in the order the report shows them (they sum to it).
CONTRIBUTIONS = ("exposure", *(f"token_{t}" for t in TOKEN_TERMS), "perp_fees", "perp_funding")


def wilson_interval(wins: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion `wins`/`n` (both bounds in [0, 1]; (0, 1) if n=0);
    `wins` may be fractional (a win rate times an effective count)."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """One (token vehicle, perp vehicle) pair across the study's cells."""

    token: str
    perp: str
    cells: int
    wins: int
    interval: tuple[float, float]  # Wilson over the cells, as if independent
    blocks: int  # time blocks of overlapping windows among the pair's cells (`time_blocks`)
    block_interval: tuple[float, float]  # Wilson with n = blocks at the same win rate
    gap_median: float | None
    gap_p10: float | None
    gap_p90: float | None
    by_regime: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    attribution: dict[str, float] = field(default_factory=dict)
    by_strategy: dict[str, tuple[int, int]] = field(default_factory=dict)  # (wins, cells)

    @property
    def win_rate(self) -> float:
        """Share of cells the token won (0 without cells)."""
        return self.wins / self.cells if self.cells else 0.0


def pair_names(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (token, stop-loss perp) pair of vehicles in the results, in name order."""
    vehicles = sorted(set(frame["vehicle"]))
    tokens = [v for v in vehicles if v.startswith("token:")]
    perps = [v for v in vehicles if v == "perp" or v.startswith("perp:")]
    return [(t, p) for t in tokens for p in perps]


def regime_terciles(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell id, the tercile label of each regime measure (NaN measures get no label)."""
    cells = frame.drop_duplicates("cell_id").set_index("cell_id")
    out = pd.DataFrame(index=cells.index)
    for column, _ in REGIMES:
        values = pd.to_numeric(cells[column], errors="coerce").dropna()
        if len(values) < len(TERCILES):
            out[column] = None
            continue
        ranks = values.rank(method="first")
        out[column] = pd.qcut(ranks, len(TERCILES), labels=list(TERCILES)).astype(str)
    return out


def time_blocks(frame: pd.DataFrame) -> pd.Series:
    """Per cell id, its time block: windows in (start, end) order, a new block at the first
    window that starts at or after the end of the block's first window (every window of a
    block overlaps that one). Without `start` and `end` columns, each cell is its own block."""
    cells = frame.drop_duplicates("cell_id").set_index("cell_id")
    if "start" not in cells or "end" not in cells:
        return pd.Series(range(len(cells)), index=cells.index)
    windows = list(zip(pd.to_datetime(cells["start"]), pd.to_datetime(cells["end"]), strict=True))
    block_of: dict[tuple[pd.Timestamp, pd.Timestamp], int] = {}
    block, block_end = -1, None
    for start, end in sorted(set(windows)):
        if block_end is None or start >= block_end:
            block, block_end = block + 1, end
        block_of[(start, end)] = block
    return pd.Series([block_of[w] for w in windows], index=cells.index)


def judge_pair(
    frame: pd.DataFrame, token: str, perp: str, terciles: pd.DataFrame, blocks: pd.Series
) -> PairVerdict:
    """The verdict of one pair over every cell where both vehicles ran."""
    left = frame[frame["vehicle"] == token].set_index("cell_id")
    right = frame[frame["vehicle"] == perp].set_index("cell_id")
    both = left.merge(right, left_index=True, right_index=True, suffixes=("_t", "_p"))
    won = both["final_nav_t"] > both["final_nav_p"]
    gaps = (both["log_return_t"] - both["log_return_p"]).dropna()
    by_regime: dict[str, dict[str, tuple[int, int]]] = {}
    for column, _ in REGIMES:
        labels = terciles[column].reindex(both.index)
        by_regime[column] = {
            t: (int(won[labels == t].sum()), int((labels == t).sum())) for t in TERCILES
        }
    attribution = _attribute(both)
    strategies = both["strategy_t"] if "strategy_t" in both else pd.Series("", index=both.index)
    by_strategy = {
        str(name): (int(won[strategies == name].sum()), int((strategies == name).sum()))
        for name in sorted(set(strategies))
    }
    wins, n = int(won.sum()), len(both)
    k = int(blocks.reindex(both.index).nunique())
    return PairVerdict(
        token, perp, n, wins, wilson_interval(wins, n),
        k, wilson_interval(wins / n * k if n else 0.0, k),
        _stat(gaps, 0.5), _stat(gaps, 0.1), _stat(gaps, 0.9),
        by_regime, attribution, by_strategy,
    )  # fmt: skip


def _attribute(both: pd.DataFrame) -> dict[str, float]:
    # See the module docstring: contributions to the gap that sum to its mean over `rows`.
    capital = both["capital_p"]
    fees = -(both["fee_trading_p"] + both["fee_slippage_p"]) / capital
    funding = -both["funding_p"] / capital
    gross = both["log_return_p"] - fees - funding
    parts = {
        "exposure": both["benchmark_log_t"] - gross,
        **{f"token_{t}": both[f"attr_{t}_t"] for t in TOKEN_TERMS},
        "perp_fees": -fees,
        "perp_funding": -funding,
    }
    frame = pd.DataFrame(parts).astype(float)
    gap = (both["log_return_t"] - both["log_return_p"]).astype(float)
    rows = frame.notna().all(axis=1) & gap.notna()
    out = {name: float(frame.loc[rows, name].mean()) if rows.any() else math.nan for name in parts}
    out["gap"] = float(gap[rows].mean()) if rows.any() else math.nan
    out["cells"] = float(rows.sum())
    out["perp_stops"] = float(both["stops_p"].mean())
    return out


def _stat(values: pd.Series, q: float) -> float | None:
    return float(values.quantile(q)) if len(values) else None


def judge(frame: pd.DataFrame) -> list[PairVerdict]:
    """Every pair's verdict."""
    terciles, blocks = regime_terciles(frame), time_blocks(frame)
    return [judge_pair(frame, t, p, terciles, blocks) for t, p in pair_names(frame)]


def headline(frame: pd.DataFrame, verdicts: list[PairVerdict]) -> str:
    """The first paragraph: the answer in numbers, for the first token against the perp with
    the smallest risk (the first perp in name order: risk_pct=0.02 before 0.05)."""
    if not verdicts:
        return "The study has no token and stop-loss perp pair to compare."
    v = verdicts[0]
    cells = frame.drop_duplicates("cell_id")
    days = (pd.to_datetime(cells["end"]) - pd.to_datetime(cells["start"])).dt.days
    symbols = " and ".join(sorted({s.split("/")[0] for s in cells["symbol"]}))
    strategies = ", ".join(sorted(set(cells["strategy"])))
    span = f"{str(cells['start'].min())[:10]}..{str(cells['end'].max())[:10]}"
    lost = 1 - v.win_rate
    lo, hi = 1 - v.block_interval[1], 1 - v.block_interval[0]
    text = (
        f"Over {v.cells} cells ({cells['start'].nunique()} windows of {int(days.median())} days "
        f"of {symbols}, {span}; strategies {strategies}), {v.token} lost to {v.perp} in "
        f"{lost:.0%} of them (95 % CI {lo:.0%}-{hi:.0%}, counting each of the {v.blocks} "
        f"blocks of overlapping windows once)"
    )
    if v.gap_median is not None:
        text += f"; the median log-return gap (token - perp) was {v.gap_median:+.3f}"
    best = _best_regime(v)
    if best is not None:
        name, tercile, wins, n = best
        text += f". It won most often when {name} was {tercile} ({wins} of {n} cells)"
    return text + "." + _split_sentence(v.attribution)


def _split_sentence(attribution: dict[str, float]) -> str:
    gap = attribution.get("gap", math.nan)
    if math.isnan(gap):
        return ""
    parts = sorted(
        ((k, attribution[k]) for k in CONTRIBUTIONS if not math.isnan(attribution[k])),
        key=lambda item: -abs(item[1]),
    )[:3]
    named = ", ".join(f"{k.replace('_', ' ')} {x:+.3f}" for k, x in parts)
    return f" Its mean log-return gap of {gap:+.3f} came mostly from {named}."


def _best_regime(v: PairVerdict) -> tuple[str, str, int, int] | None:
    best: tuple[float, str, str, int, int] | None = None
    for column, name in REGIMES:
        for tercile, (wins, n) in v.by_regime.get(column, {}).items():
            if n and (best is None or wins / n > best[0]):
                best = (wins / n, name, tercile, wins, n)
    return None if best is None else best[1:]
