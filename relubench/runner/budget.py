"""Before a run allocates anything: will it fit in this machine's memory?

A width of 100,000 or a synthetic train_size of 10^8 would otherwise end in an allocator
traceback (or the OOM killer) after a while; here it is one line, at once, with the figure.
The estimate is a floor, not a forecast: the dataset as it is loaded (uint8, then float32 with
one temporary) and the model's parameters with their gradients and optimizer state, counted on
torch's `meta` device (no memory, no random numbers drawn). Activations are left out.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from relubench.config import RunConfig
from relubench.errors import ConfigError
from relubench.nn.models import build_model
from relubench.registry.datasets import get_spec

GB = 1e9


def available_memory() -> float | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), else physical
    memory, else None (then nothing is checked)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def estimate(cfg: RunConfig) -> tuple[float, float]:
    """(dataset bytes, model bytes) at the peak of loading and training, a lower bound."""
    spec = get_spec(cfg.dataset)
    pixels = spec.channels * spec.size * spec.size
    images = (cfg.train_size or spec.train) + (cfg.test_size or spec.test) + cfg.val_size
    per_pixel = 13 if spec.kind == "generated" else 9  # uint8 + float32 + a float32 temporary
    # PyTorch's default init only: the count is the same, and re-initialising on `meta` goes
    # through torch._refs, whose first use imports torch._dynamo (seconds of start-up)
    bare = replace(cfg, init="torch")
    with torch.device("meta"):
        model = build_model(bare, spec.channels, spec.size, 10)
    params = sum(p.numel() for p in model.parameters())
    state = {"sgd": 3, "adam": 4, "adamw": 4}[cfg.optimizer]  # weights, grads, moments
    return float(images * pixels * per_pixel), float(params * 4 * state)


def check_memory(cfg: RunConfig) -> None:
    """ConfigError when the run cannot fit in the memory this machine has available."""
    have = available_memory()
    if have is None:
        return
    data, model = estimate(cfg)
    if data + model > have:
        raise ConfigError(
            f"this run needs at least {(data + model) / GB:.1f} GB of memory (data "
            f"{data / GB:.1f} GB, model {model / GB:.1f} GB), this machine has {have / GB:.1f} GB "
            f"available; lower --width, --set depth or --set train_size"
        )
