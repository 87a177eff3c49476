"""Calibration of a token preset to a real token's prices (issue 16 points 4-5).

`splits` finds and undoes reverse splits, `metrics` computes the fidelity figures, `fit` fits a
preset's few free parameters by minimising the daily tracking error, `inputs` reads the files
(the only module that does I/O) and `pipeline` ties them together for `ltbot calibrate` and
scripts/fidelity.py. Nothing but the CLI (and scripts) imports this package.
"""
