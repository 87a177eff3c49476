"""The `sma_cross` strategy of ltbot for freqtrade's backtester (benchmark only).

1h bars, long while SMA(20) > SMA(50) of the close, short below; a fixed 5 % stop. Run with
`--timeframe-detail 5m` so freqtrade walks the 5m candles inside each hour, as ltbot's replay
walks every 5m bar.
"""

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class SmaCrossFt(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = True
    stoploss = -0.05
    minimal_roi = {"0": 100.0}
    startup_candle_count = 50
    process_only_new_candles = True
    use_exit_signal = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["sma_fast"] = dataframe["close"].rolling(20).mean()
        dataframe["sma_slow"] = dataframe["close"].rolling(50).mean()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        up = dataframe["sma_fast"] > dataframe["sma_slow"]
        down = dataframe["sma_fast"] < dataframe["sma_slow"]
        dataframe.loc[up, "enter_long"] = 1
        dataframe.loc[down, "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        up = dataframe["sma_fast"] > dataframe["sma_slow"]
        down = dataframe["sma_fast"] < dataframe["sma_slow"]
        dataframe.loc[down, "exit_long"] = 1
        dataframe.loc[up, "exit_short"] = 1
        return dataframe
