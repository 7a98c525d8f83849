"""The bounds of the config's numbers: what no experiment needs to cross, checked before
anything is built from them (past them torch overflows, or a run cannot fit anywhere, or
building the model alone takes minutes). Each is said in the message that refuses a value, so
a user sees the bound they crossed. Torch-free.
"""

from __future__ import annotations

from typing import Any

from relubench.errors import short

LIMITS: dict[str, int | float] = {  # key -> the largest magnitude it takes
    "lr": 1e3,
    "weight_decay": 1e3,
    "slope_lr": 1e3,
    "leaky_slope": 1e3,
    "prelu_init": 1e3,
    "elu_alpha": 1e3,
    "celu_alpha": 1e3,
    "seed": 2**62,
    "epochs": 10**6,
    "batch_size": 2**20,
    "width": 2**20,  # units or first-stage channels (torch indexes with 32 bits in places)
    "depth": 1000,  # mlp hidden layers: far past any study; building the net is linear in it
    "train_size": 2**31,
    "test_size": 2**31,
    "val_size": 2**31,
    "probe_size": 2**31,
}


def show(value: Any) -> str:
    """A value for a message: a number as %g (a huge integer by its count of digits, which
    Python will not print past 4,300), anything else as `short` does."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 50:
        if value.bit_length() > 1000:
            return f"a number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
        return f"{value:g}"
    return short(value)
