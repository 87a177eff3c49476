"""Reports: ledger rows -> report model -> terminal, Markdown, HTML (with a tear sheet), JSON/CSV.

`model`, `metrics`, `decay`, `trades`, `tearsheet` and the renderers are pure; `export` writes
the JSON/CSV tables; `job` reads the store, writes the files, stores the metrics and posts the
optional webhook. Conventions: docs/REPORTS.md.
"""
