"""Daily summary reports: ledger rows -> report model -> terminal, Markdown and HTML.

`model`, `metrics`, `decay` and the renderers are pure; `job` reads the store, writes the files,
stores the metrics and posts the optional webhook.
"""
