"""What more than one study shares."""

from __future__ import annotations

AT_INIT = {  # a run measured at init: epoch 0 is read; the one step after it is not used
    "dataset": "mnist-mini",
    "model": "mlp",
    "epochs": 1,
    "train_size": 128,
    "batch_size": 128,
    "test_size": 1024,
    "probe_size": 1024,
    "lr": 0.01,
}
