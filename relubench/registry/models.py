"""The model registry: everything about one model in one entry.

An entry names the class that builds it (every model class takes the same arguments:
`(channels, size, classes, act, width, depth, drop, norm=...)`, see `relubench.nn.models`), its
default width and depth (what 0 resolves to, so config.yaml and the run id name the real
architecture), the smallest depth and input side it takes, whether it trains in channels_last
memory format (NHWC conv kernels: faster on the CPU, `python -m benchmarks.cpu_levers`; cuDNN's
tensor cores want them too), and its own normalisation (what `norm: auto` builds; `norm`
switches batch norm on or off in the conv nets, keeping the rest of the architecture).
Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from relubench.registry import lookup


@dataclass(frozen=True)
class ModelSpec:
    name: str
    what: str  # for people: help text, README
    cls: str  # "package.module:Class"
    width: int  # default width: first-stage channels (conv nets) or hidden units (mlp)
    depth: int = 0  # default depth (mlp: hidden layers); 0 = the model has no depth knob
    min_depth: int = 0  # the smallest depth it takes (0: any)
    min_size: int = 1  # smallest input side in pixels (each 2x2 pooling halves it)
    channels_last: bool = False
    norm: str = "batch"  # its own normalisation (norm: auto): "batch" or "none"
    norm_switch: bool = True  # norm: batch / none can switch it (False: no layers to switch)
    # default peak lr (what lr 0 resolves to), chosen by measurement for every activation
    # alike: python -m experiments.stability, docs/stability.md
    lr: float = 0.1


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "cnn",
            "3 conv-BN-act blocks (w, 2w, 4w channels) + a dense layer",
            "relubench.nn.models:CNN",
            width=32,
            min_size=8,
            channels_last=True,
        ),
        ModelSpec(
            "mlp",
            "`depth` hidden layers of `width` units, no normalisation (SELU's setting)",
            "relubench.nn.models:MLP",
            width=256,
            depth=4,
            norm="none",
            norm_switch=False,  # dense layers only: batch norm is no switch away
            lr=0.05,  # at 0.1 SELU diverges on mnist-mini, ReLU/ELU/PReLU on synthetic
        ),
        ModelSpec(
            "resnet20",
            "He et al. 2016's CIFAR ResNet, 3 stages x 3 basic blocks",
            "relubench.nn.models:ResNet20",
            width=16,  # He et al. 2016: 16, 32, 64 channels
            min_size=4,
            channels_last=True,
        ),
        ModelSpec(
            "vgg",
            "VGG-11's first four stages (w..8w channels) with batch norm + a dense layer",
            "relubench.nn.models:VGG",
            width=32,
            min_size=16,
            channels_last=True,
        ),
        ModelSpec(
            "plain",
            "`depth` conv3x3-act layers in 3 stages (w, 2w, 4w channels, 2x2 max-pool after "
            "each), global average pool, linear head; no normalisation (norm: batch adds it)",
            "relubench.nn.models:Plain",
            width=16,
            depth=8,
            min_depth=3,  # one conv layer per stage
            min_size=8,
            channels_last=True,
            norm="none",
            lr=0.005,  # at 0.01 and above PReLU, ELU and SELU runs diverge on mnist-mini
        ),
    ]
}


def norm_models() -> list[str]:
    """The models whose normalisation `norm` can switch."""
    return [s.name for s in MODELS.values() if s.norm_switch]


def model_names() -> list[str]:
    return list(MODELS)


def get_model(name: str) -> ModelSpec:
    return lookup(MODELS, "model", name)


def width_help() -> str:
    """The default widths, for `--width`'s help: `cnn 32, mlp 256, ...`."""
    return ", ".join(f"{s.name} {s.width}" for s in MODELS.values())


def lr_help() -> str:
    """The default peak learning rates, for `--lr`'s help: `cnn 0.1, mlp 0.05, ...`."""
    return ", ".join(f"{s.name} {s.lr:g}" for s in MODELS.values())
