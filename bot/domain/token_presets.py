"""The leveraged-token presets of MECHANICS §12, keyed by the family name used in `token:<preset>`.

Each family builds a `TokenSpec` for Side.LONG and Side.SHORT. Every builder's docstring gives
the source key (MECHANICS §13) of each parameter or says "assumption"; UNCONFIRMED numbers are
ordinary parameters with a documented default, overridable by name from config.

Shared assumptions (no exchange publishes them; MECHANICS §0 says UNCONFIRMED): rebalance
trading fee 0.05 % of notional (Binance USDⓈ-M VIP0 taker [BN-FEESCH-2nd]) and slippage 0.01 %,
borne by NAV; "continuous" monitoring along the intraday path, executed where a trigger crosses;
on the spot route (`route=spot`/`auto`), a 0 premium over NAV (creation/redemption arbitrage)
and a 0.1 % spread; no daily cap unless the builder cites one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace

from bot.domain.token_spec import FIXED_FIELDS, TokenSpec, with_overrides
from bot.domain.values import Side

ASSUMED_REBALANCE_FEE = 0.0005
ASSUMED_SLIPPAGE = 0.0001
# Binance hides its rebalance tolerance; the default is an assumption (see binance_blvt).
BLVT_TOLERANCE = 0.25


def _label(stem: str, side: Side, long: str, short: str) -> str:
    return f"{stem}_{long if side is Side.LONG else short}"


def binance_blvt(side: Side) -> TokenSpec:
    """Binance BLVT (BTCUP/BTCDOWN), a historical product (delisted 2024-04).

    Re-levered on a need basis toward a target inside [1.25, 4] (MECHANICS §1 note, revised).
    - FAQ "What is BLVT rebalancing" (2020) [BN-REBAL]: the true target "is constantly
      changing" inside 1.25-4x; rebalancing changes positions "to achieve the target
      leverage"; Binance "does not force rebalancing as a daily protocol".
    - Risk notice 2020-08-14: "built-in decay in the absence of momentum", "preference toward
      momentum": what a fund re-levered often toward its target shows (MECHANICS §8).
    - target_leverage 2.25 on each side (`target_leverage_long=` / `_short=` set one side):
      assumption, midpoint of the older official 1.5-3x range [BN-BLOG]; hidden [BN-REBAL].
    - tolerance 0.25: back to target when | |λ| − target | >= 0.25 (leverage units).
      ASSUMPTION, not published; chosen on the real ETHUP 4h series, see docs/TOKENS.md.
    - band_lo 1.25, band_hi 4 [BN-WHAT]: the target must lie strictly inside; an emergency
      trigger whatever the tolerance. No daily schedule; `daily_time=HH:MM` adds a reset.
    - subscription/redemption 0.1 % [BN-FEES]; management 0.01 %/day at 00:00 UTC [BN-FEES];
      funding passes through to NAV [BN-FEES].
    - rebalance_minutes 5: assumption; "not allowed to redeem while the fund is rebalancing"
      [BN-SUBRED] but the duration is not published.
    - spot fee 0.1 %: "standard spot market fee" [BN-FEES], the spot VIP0 taker rate (issue
      16; the rate itself is UNCONFIRMED in MECHANICS §1). Daily caps "may vary" [BN-SUBRED]:
      no number found, so none by default (assumption). No split (discretionary [BN-RS-FAQ]).
    """
    return TokenSpec(
        family="binance_blvt",
        side=side,
        label=_label("binance_blvt", side, "up", "down"),
        target_leverage=2.25,
        tolerance=BLVT_TOLERANCE,
        band_lo=1.25,
        band_hi=4.0,
        rebalance_fee_pct=ASSUMED_REBALANCE_FEE,
        slippage_pct=ASSUMED_SLIPPAGE,
        management_fee_pct=0.0001,
        management_time="00:00:00",
        subscription_fee_pct=0.001,
        redemption_fee_pct=0.001,
        rebalance_minutes=5.0,
        spot_fee_pct=0.001,
    )


def ftx(side: Side) -> TokenSpec:
    """FTX BULL (+3x) / BEAR (-3x), a historical product.

    - daily reset at 00:02 UTC [FTX-REB][FTX-BTRX][FTX-POLO] (2nd copies of FTX text).
    - max_leverage 4: rebalance "whenever they get 4x levered" [FTX-FAQ]; adverse only.
    - creation/redemption 0.1 % [FTX-FEE-VN] (2nd); management 0.03 %/day [FTX-FEE-VN] (2nd)
      at 00:00 UTC: the time is an assumption (UNCONFIRMED).
    - funding pass-through: inferred [FTX-FUND]; the engine settles FTX's hourly funding.
    - rebalance_minutes 0: assumption (no blocked window found); no split (not found).
    """
    return TokenSpec(
        family="ftx",
        side=side,
        label=_label("ftx", side, "bull3", "bear3"),
        target_leverage=3.0,
        daily_time="00:02:00",
        max_leverage=4.0,
        rebalance_fee_pct=ASSUMED_REBALANCE_FEE,
        slippage_pct=ASSUMED_SLIPPAGE,
        management_fee_pct=0.0003,
        management_time="00:00:00",
        subscription_fee_pct=0.001,
        redemption_fee_pct=0.001,
    )


def ftx_hedge(side: Side) -> TokenSpec:
    """FTX HEDGE (-1x). Fixed direction: the token is short whatever `side` is asked.

    - as `ftx`, with target_leverage 1 on the short side.
    - max_leverage 4/3: assumption from the 4/3·target rule (+14.3 % move); FTX's published
      "≈30 %" conflicts [FTX-REB] (UNCONFIRMED), so override it to taste.
    """
    hedge = replace(ftx(Side.SHORT), family="ftx_hedge", label="ftx_hedge1", target_leverage=1.0)
    return replace(hedge, max_leverage=4.0 / 3.0)


def ftx_half(side: Side) -> TokenSpec:
    """FTX HALF (+0.5x). Fixed direction: the token is long whatever `side` is asked.

    - as `ftx`, with target_leverage 0.5 on the long side [FTX-WALK].
    - max_leverage 2/3: assumption, 4/3·target as MECHANICS §12 (a +100 % move).
    """
    half = replace(ftx(Side.LONG), family="ftx_half", label="ftx_half05", target_leverage=0.5)
    return replace(half, max_leverage=2.0 / 3.0)


def bybit(side: Side) -> TokenSpec:
    """Bybit BTC3L / BTC3S.

    - band [2, 4] back to 3x, continuous: [BY-REB] (2024-10-17); the band of 3S is stated only
      for BTC3L, so the same band on |λ| is an assumption. No daily schedule [BY-RISK][BY-REB].
    - subscription 0.05 %, redemption 0.05 % [BY-FEE]; spot fee 0.1 % [BY-FEE].
    - management 0.005 %/day [BY-FEE] at 01:00 UTC: one API example [BY-API] (assumption).
    - funding pass-through [BY-FEE][BY-API].
    - rebalance_minutes 5: assumption; purchase/redeem not allowed while rebalancing [BY-REB].
    - daily subscription cap 200,000 USDT: maxPurchaseDaily of the BTC3L API example [BY-API];
      its redemption cap is in tokens of a real NAV (2,100,000): none here. No split [BY-CONS].
    """
    return TokenSpec(
        family="bybit",
        side=side,
        label=_label("bybit", side, "3l", "3s"),
        target_leverage=3.0,
        band_lo=2.0,
        band_hi=4.0,
        rebalance_fee_pct=ASSUMED_REBALANCE_FEE,
        slippage_pct=ASSUMED_SLIPPAGE,
        management_fee_pct=0.00005,
        management_time="01:00:00",
        subscription_fee_pct=0.0005,
        redemption_fee_pct=0.0005,
        rebalance_minutes=5.0,
        spot_fee_pct=0.001,
        daily_subscription_cap=200_000.0,
    )


def kucoin(side: Side) -> TokenSpec:
    """KuCoin BTC3L / BTC3S.

    - daily reset at 23:30 UTC, window 23:30-23:45 (rebalance_minutes 15) [KC-REB][KC-GLOSS];
      the 15-minute block after intraday rebalances too is an assumption.
    - move_trigger 15 %, losing side only, back to 3x [KC-REB].
    - subscription/redemption 0.1 % [KC-FEE][KC-SUB][KC-PAGE]; management 0.05 %/day at
      23:45 UTC [KC-PAGE][KC-FEE] (some tokens 0.1 %: override).
    - funding pass-through: assumption (UNCONFIRMED whether funding also hits NAV).
    - daily subscription and redemption caps 30,000 USDT [KC-SUB]; not modelled: the
      8-hourly batching of subscriptions. Spot fee: UNCONFIRMED (none: no spot route).
    """
    return TokenSpec(
        family="kucoin",
        side=side,
        label=_label("kucoin", side, "3l", "3s"),
        target_leverage=3.0,
        daily_time="23:30:00",
        move_trigger_pct=0.15,
        rebalance_fee_pct=ASSUMED_REBALANCE_FEE,
        slippage_pct=ASSUMED_SLIPPAGE,
        management_fee_pct=0.0005,
        management_time="23:45:00",
        subscription_fee_pct=0.001,
        redemption_fee_pct=0.001,
        rebalance_minutes=15.0,
        daily_subscription_cap=30_000.0,
        daily_redemption_cap=30_000.0,
    )


def gate(side: Side) -> TokenSpec:
    """Gate 3x, rules effective 2025-04-01 (gate_3x_2025).

    - daily check at 00:00 UTC+8 = 16:00 UTC: rebalance if |λ| < 2, |λ| > 4 or |move| > 1 %
      since the last rebalance, back to 3x [GT-2025]. (The UTC / UTC+8 ambiguity of MECHANICS
      §5 concerns when the 2025 rules took effect, not this daily time.)
    - anytime: |λ| >= 4 or a ±20 % move since the last rebalance (both directions) [GT-2025].
    - management 0.1 %/day all-in, no separate funding [GT-FEE]; charge time 16:00 UTC is an
      assumption (UNCONFIRMED). The all-in fee covers trading costs, so rebalances cost the NAV
      nothing (rebalance_fee_pct = slippage_pct = 0; NAV formula [GT-2025]).
    - subscription/redemption 0: UNCONFIRMED (not found). No split threshold (discretionary).
    """
    return TokenSpec(
        family="gate",
        side=side,
        label=_label("gate_3x_2025", side, "3l", "3s"),
        target_leverage=3.0,
        daily_time="16:00:00",
        daily_mode="check",
        daily_lo=2.0,
        daily_hi=4.0,
        daily_move_pct=0.01,
        max_leverage=4.0,
        move_trigger_pct=0.20,
        move_adverse_only=False,
        management_fee_pct=0.001,
        management_time="16:00:00",
        funding_pass_through=False,
    )


def gate_float(side: Side) -> TokenSpec:
    """Gate 3x "floating leverage" (2025 Gate Square post [GT-FLOAT]; conflicts with [GT-2025]).

    - band long [2.25, 4.125], short [1.5, 5.25], back to 3x, continuous [GT-FLOAT].
    - fees as `gate` (0.1 %/day all-in at 16:00 UTC, assumption time; no funding [GT-FEE]).
    """
    lo, hi = (2.25, 4.125) if side is Side.LONG else (1.5, 5.25)
    return TokenSpec(
        family="gate_float",
        side=side,
        label=_label("gate_3x_float", side, "3l", "3s"),
        target_leverage=3.0,
        band_lo=lo,
        band_hi=hi,
        management_fee_pct=0.001,
        management_time="16:00:00",
        funding_pass_through=False,
    )


def gate_legacy(side: Side) -> TokenSpec:
    """Gate 3x legacy rules (2021-09 to 2025-03), target 2.3x [GT-2021][GT-2025].

    - daily check 16:00 UTC (00:00 UTC+8): |λ| < 1.8, |λ| > 3 or |move| > 1 % [GT-2021].
    - anytime |λ| >= 3 [GT-2021] (the 2025 table's "or ±20 %" is not in the 2021 text).
    - fees as `gate` (assumption: the 0.1 %/day all-in fee; 2021 fee not researched).
    """
    return TokenSpec(
        family="gate_legacy",
        side=side,
        label=_label("gate_3x_legacy", side, "3l", "3s"),
        target_leverage=2.3,
        daily_time="16:00:00",
        daily_mode="check",
        daily_lo=1.8,
        daily_hi=3.0,
        daily_move_pct=0.01,
        max_leverage=3.0,
        management_fee_pct=0.001,
        management_time="16:00:00",
        funding_pass_through=False,
    )


def gate_5x(side: Side) -> TokenSpec:
    """Gate 5x: band 3.5-7x back to 5x [GT-5X][GT-FLOAT].

    - daily check 16:00 UTC: |λ| < 3.5, |λ| > 7 or |move| > 1 %; anytime |λ| >= 7 [GT-5X].
    - fees as `gate` (0.1 %/day all-in, assumption for 5x; no funding [GT-FEE]).
    """
    return TokenSpec(
        family="gate_5x",
        side=side,
        label=_label("gate_5x", side, "5l", "5s"),
        target_leverage=5.0,
        daily_time="16:00:00",
        daily_mode="check",
        daily_lo=3.5,
        daily_hi=7.0,
        daily_move_pct=0.01,
        max_leverage=7.0,
        management_fee_pct=0.001,
        management_time="16:00:00",
        funding_pass_through=False,
    )


def mexc(side: Side) -> TokenSpec:
    """MEXC BTC3L / BTC3S.

    - daily reset 16:00 UTC [MX-REB]; intraday 15 % move, losing side only [MX-REB].
    - reverse split ("merge") when NAV < 0.1 USDT, ratio 10 [MX-RATES][MX-BTT].
    - management 0.001 %/day at 16:00 UTC (00:00 SGT [MX-2020]): UNCONFIRMED; the official blog
      text [MX-RATES] says 0.001 %, other sources 2 % or 0.2 %; override it.
    - funding pass-through: assumption. Subscription/redemption 0: UNCONFIRMED (not found).
    - spot fee 0.2 % [MX-RATES].
    """
    return TokenSpec(
        family="mexc",
        side=side,
        label=_label("mexc", side, "3l", "3s"),
        target_leverage=3.0,
        daily_time="16:00:00",
        move_trigger_pct=0.15,
        rebalance_fee_pct=ASSUMED_REBALANCE_FEE,
        slippage_pct=ASSUMED_SLIPPAGE,
        management_fee_pct=0.00001,
        management_time="16:00:00",
        split_threshold_nav=0.1,
        split_ratio=10.0,
        spot_fee_pct=0.002,
    )


def ideal_daily(side: Side) -> TokenSpec:
    """A textbook daily-reset token for decay validation (MECHANICS §8.2).

    - reset every day at 00:00 UTC (a parameter), target 3x (any L by override); no fees,
      no funding, no intraday trigger (so a gap beyond 1/|L| wipes it out).
    """
    return TokenSpec(
        family="ideal_daily",
        side=side,
        label=_label("ideal_daily", side, "l", "s"),
        target_leverage=3.0,
        daily_time="00:00:00",
        funding_pass_through=False,
    )


def ideal_continuous(side: Side) -> TokenSpec:
    """A token rebalanced at every price it sees: the closed form of MECHANICS §8.1.

    - target 3x (any L by override); f = management_fee_pct per day at 00:00 UTC (default 0);
      φ = funding, passed through when the caller settles it; no trading costs by default.
    """
    return TokenSpec(
        family="ideal_continuous",
        side=side,
        label=_label("ideal_continuous", side, "l", "s"),
        target_leverage=3.0,
        always_rebalance=True,
        management_time="00:00:00",
    )


PRESETS: dict[str, Callable[[Side], TokenSpec]] = {
    "binance_blvt": binance_blvt,
    "ftx": ftx,
    "ftx_hedge": ftx_hedge,
    "ftx_half": ftx_half,
    "bybit": bybit,
    "kucoin": kucoin,
    "gate": gate,
    "gate_float": gate_float,
    "gate_legacy": gate_legacy,
    "gate_5x": gate_5x,
    "mexc": mexc,
    "ideal_daily": ideal_daily,
    "ideal_continuous": ideal_continuous,
}


def preset_names() -> list[str]:
    """Return the family names accepted by `token_spec`, in registry order."""
    return list(PRESETS)


def preset_doc(name: str) -> str:
    """Return the sources-and-assumptions docstring of preset `name`."""
    return inspect.cleandoc(_builder(name).__doc__ or "")


def token_spec(name: str, side: Side, overrides: Mapping[str, object] | None = None) -> TokenSpec:
    """Build the spec of preset `name` for `side`, with `overrides` applied by field name.

    `<name>_long=` / `<name>_short=` set that side only. Fixed-direction families (`ftx_hedge`,
    `ftx_half`) return their one token for either side. ValueError on any unknown or bad value.
    """
    spec = _builder(name)(Side(side))
    common: dict[str, object] = {}
    own: dict[str, object] = {}  # this side's `<name>_long` / `<name>_short`, applied last
    for key, value in (overrides or {}).items():
        stem, _, suffix = key.rpartition("_")
        if suffix in _SIDE_SUFFIXES and stem:
            if stem not in _FIELDS or stem in FIXED_FIELDS:
                raise ValueError(f"unknown parameter {key!r} for preset {spec.family!r}")
            if _SIDE_SUFFIXES[suffix] is spec.side:
                own[stem] = value
        else:
            common[key] = value
    return with_overrides(spec, {**common, **own})


_SIDE_SUFFIXES, _FIELDS = (
    {"long": Side.LONG, "short": Side.SHORT},
    set(TokenSpec.__dataclass_fields__),
)


def _builder(name: str) -> Callable[[Side], TokenSpec]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}") from None
