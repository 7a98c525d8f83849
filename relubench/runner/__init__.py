"""The runner: the training loop (`loop`, `train`), the run folder's claim and writer, sweeps
(`sweep`, local processes; `ray`), smoke runs, and the Rich progress displays (`progress`).

Importing the package loads nothing; `train` and `loop` import torch, `sweep` does not.
"""
