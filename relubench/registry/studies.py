"""The studies: a paper's claims, the runs that test them, and the criterion that decides.

A study is a sweep (`sweep`: base + grid, as in a sweep file; `quick` replaces some of it for
a run of a minute or two) and claims. Each claim selects runs by their config (`select`),
measures one number per run, or per run and layer (`measure`), and decides by its
`criterion`; `relubench.analysis.study` computes the verdicts from the run folders alone:

  measure   metric: a layers.csv column (out_mean, out_std, pre_mean, pre_std, dead_frac,
            dormant_frac), out_var / pre_var (the std squared) or abs_out_mean, or a
            metrics.csv column (train_loss, test_acc, dead_frac, ...: then `layers` is unset);
            epoch: a number or "last"; layers: "each" (every layer judged on its own), "all"
            or "deep" (the mean over all layers, or over the second half, per run)
  criterion between: [lo, hi] / above: x / below: x (the seeds' 95% interval against the
            bound), or less_than / greater_than: {select: ...} (the difference from other
            runs, with its 95% Welch interval, against 0)

Verdicts: `confirmed` when the whole interval satisfies the criterion, `refuted` when the whole
interval contradicts it, `inconclusive` when it straddles the bound (the seeds cannot tell).
Torch-free facts, like the other registries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relubench.errors import ConfigError

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


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str  # what the paper says, in one sentence
    paper: str  # their number or pattern
    select: dict[str, Any]  # config values of the runs that test it
    measure: dict[str, Any]
    criterion: dict[str, Any]


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    source: str  # the paper
    cost: str  # what it runs, and how long on 2 CPU cores
    sweep: dict[str, Any]  # base + grid
    quick: dict[str, Any]  # base / grid keys replaced for --quick
    claims: tuple[Claim, ...]
    figures: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def spec(self, quick: bool = False) -> dict[str, Any]:
        """The sweep, as a sweep file would hold it (base, grid), quick or full."""
        base = {**self.sweep["base"], **(self.quick.get("base", {}) if quick else {})}
        grid = {**self.sweep["grid"], **(self.quick.get("grid", {}) if quick else {})}
        return {"base": base, "grid": grid}


KLAMBAUER = (
    "Klambauer, Unterthiner, Mayr & Hochreiter 2017, Self-Normalizing Neural Networks "
    "(NeurIPS), Theorem 1"
)
LU = (
    "Lu, Shin, Su & Karniadakis 2020, Dying ReLU and Initialization: Theory and Numerical "
    "Examples (Commun. Comput. Phys. 28)"
)
CLEVERT = (
    "Clevert, Unterthiner & Hochreiter 2016, Fast and Accurate Deep Network Learning by "
    "Exponential Linear Units (ICLR)"
)

CS231N = (
    "Karpathy et al., CS231n: Convolutional Neural Networks for Visual Recognition, course "
    "notes, Neural Networks Part 1 (activation functions: ReLU)"
)
HE = (
    "He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers: Surpassing Human-Level Performance "
    "on ImageNet Classification (ICCV), Table 1 and Section 2.1"
)
EXPLAINERS = (
    'an Educative answer on PReLU, and "Activation Functions: The Other ReLUs - A Deep Dive" '
    "(2023): the explainers this project started from"
)

DEEPEST = {"layers": "each", "epoch": 0}

STUDIES: dict[str, Study] = {
    s.name: s
    for s in [
        Study(
            "selu-init",
            "SELU self-normalises at init, given LeCun-normal weights",
            KLAMBAUER,
            "MLPs of width 256 and depth 8, 16, 32 at init on mnist-mini images, selu, relu, "
            "elu x init auto, torch; full: 540 runs (30 seeds), quick: 30 (depth 32, 5 seeds)",
            {
                "base": {**AT_INIT, "width": 256},
                "grid": {
                    "act": ["selu", "relu", "elu"],
                    "init": ["auto", "torch"],
                    "depth": [8, 16, 32],
                    "seed": list(range(30)),  # a layer's mean varies by seed: 30 to tell
                },
            },
            {"grid": {"depth": [32], "seed": [0, 1, 2, 3, 4]}},
            (
                Claim(
                    "selu-mean",
                    "With LeCun-normal init, every SELU layer's mean activation stays near 0 "
                    "through depth 32",
                    "mean in [-0.031, 0.068] (Theorem 1, for mean and variance near (0, 1))",
                    {"act": "selu", "init": "auto", "depth": 32},
                    {"metric": "out_mean", **DEEPEST},
                    {"between": [-0.031, 0.068]},
                ),
                Claim(
                    "selu-variance",
                    "With LeCun-normal init, every SELU layer's activation variance stays near "
                    "1 through depth 32",
                    "variance in [0.80, 1.49] (Theorem 1)",
                    {"act": "selu", "init": "auto", "depth": 32},
                    {"metric": "out_var", **DEEPEST},
                    {"between": [0.80, 1.49]},
                ),
                Claim(
                    "relu-mean-shift",
                    "ReLU units have a positive mean activation, which the next layer sees as "
                    "a bias shift (the problem SELU and ELU address)",
                    "mean activation > 0 (Clevert et al. 2016; Klambauer et al. 2017)",
                    {"act": "relu", "init": "auto", "depth": 32},
                    {"metric": "out_mean", "layers": "deep", "epoch": 0},
                    {"above": 0.25},
                ),
                Claim(
                    "torch-init-collapse",
                    "Without LeCun-normal init (PyTorch's default Linear init, Var[w] = "
                    "1/(3 fan-in)), SELU does not self-normalise: the variance collapses with "
                    "depth",
                    "self-normalisation needs Var[w] = 1/n (the paper's weight condition)",
                    {"act": "selu", "init": "torch", "depth": 32},
                    {"metric": "out_var", "layers": "deep", "epoch": 0},
                    {"below": 0.05},
                ),
            ),
            (
                {
                    "kind": "layers",
                    "metrics": ["out_mean", "out_var"],
                    "where": {"depth": 32},
                    "by": ["act", "init"],
                    "epoch": 0,
                },
            ),  # fmt: skip
        ),
        Study(
            "born-dead",
            "A deep ReLU net is born with dead units, the more the deeper",
            LU,
            "MLPs of width 64 and depth 4, 8, 16, 32, at init on mnist-mini images, relu and "
            "selu; full: 80 runs (10 seeds), quick: 24 (3 seeds)",
            {
                "base": {**AT_INIT, "width": 64},
                "grid": {"act": ["relu", "selu"], "depth": [4, 8, 16, 32], "seed": list(range(10))},
            },
            {"grid": {"seed": [0, 1, 2]}},
            (
                Claim(
                    "dead-at-init",
                    "A deep ReLU net with symmetric init has dead units before any training",
                    "a deep ReLU network will eventually die in probability as the depth goes "
                    "to infinity (their abstract)",
                    {"act": "relu", "depth": 32},
                    {"metric": "dead_frac", "layers": "all", "epoch": 0},
                    {"above": 0.01},
                ),
                Claim(
                    "grows-with-depth",
                    "The deeper the ReLU net, the larger its share of dead units at init",
                    "the probability of a dead network grows with depth",
                    {"act": "relu", "depth": 32},
                    {"metric": "dead_frac", "layers": "all", "epoch": 0},
                    {"greater_than": {"select": {"act": "relu", "depth": 4}}},
                ),
                Claim(
                    "deep-layers-die",
                    "Within a deep ReLU net, the later layers hold more dead units than the "
                    "net as a whole (death compounds through depth)",
                    "dying propagates: once a layer's units die, those after follow",
                    {"act": "relu", "depth": 32},
                    {"metric": "dead_frac", "layers": "deep", "epoch": 0},
                    {"greater_than": {"select": {"act": "relu", "depth": 32}, "layers": "all"}},
                ),
            ),
            (
                {
                    "kind": "versus",
                    "x": "depth",
                    "metric": "dead_frac",
                    "layers": "all",
                    "by": ["act"],
                    "epoch": 0,
                },
                {
                    "kind": "layers",
                    "metrics": ["dead_frac"],
                    "where": {"depth": 32},
                    "by": ["act"],
                    "epoch": 0,
                },
            ),  # fmt: skip
        ),
        Study(
            "elu-mean",
            "ELU pushes mean activations toward zero and learns faster early",
            CLEVERT,
            "MLP 8 x 128 on mnist-mini, plain SGD at lr 0.01 (their MNIST setting), 3 epochs, "
            "elu, relu, leaky; full: 15 runs (5 seeds), "
            "quick: 9 (3 seeds, 1 epoch, 3,000 images)",
            {
                # their MNIST setting: 8 hidden layers of 128 units, plain SGD at lr 0.01,
                # mini-batches of 64, no schedule
                "base": {
                    "dataset": "mnist-mini",
                    "model": "mlp",
                    "width": 128,
                    "depth": 8,
                    "epochs": 3,
                    "lr": 0.01,
                    "batch_size": 64,
                    "momentum": 0.0,
                    "schedule": "none",
                    "weight_decay": 0.0,
                },
                "grid": {"act": ["elu", "relu", "leaky"], "seed": [0, 1, 2, 3, 4]},
            },  # fmt: skip
            {"base": {"epochs": 1, "train_size": 3000}, "grid": {"seed": [0, 1, 2]}},
            (
                Claim(
                    "mean-closer-to-zero",
                    "ELU's mean activations are closer to zero than ReLU's",
                    "ELUs push mean unit activations closer to zero (their abstract)",
                    {"act": "elu"},
                    {"metric": "abs_out_mean", "layers": "all", "epoch": "last"},
                    {"less_than": {"select": {"act": "relu"}}},
                ),
                Claim(
                    "mean-closer-than-leaky",
                    "ELU's mean activations are closer to zero than Leaky ReLU's",
                    "LReLU's negative values are small; ELU's saturate at -alpha",
                    {"act": "elu"},
                    {"metric": "abs_out_mean", "layers": "all", "epoch": "last"},
                    {"less_than": {"select": {"act": "leaky"}}},
                ),
                Claim(
                    "learns-faster",
                    "ELU learns faster early: a lower training loss after the first epoch than "
                    "ReLU",
                    "faster learning, lower training loss early (their MNIST experiment)",
                    {"act": "elu"},
                    {"metric": "train_loss", "epoch": 1},
                    {"less_than": {"select": {"act": "relu"}}},
                ),
            ),
            (
                {"kind": "layers", "metrics": ["abs_out_mean"], "by": ["act"], "epoch": "last"},
                {"kind": "epochs", "metric": "train_loss", "by": ["act"]},
            ),  # fmt: skip
        ),
        Study(
            "dead-vs-lr",
            "Too high a learning rate kills ReLU units; the other activations resist",
            CS231N,
            "mlp (no normalisation) and the BN cnn, 2 epochs on 3,000 mnist-mini images, the "
            "six activations x lr 0.01-1.0; full: 180 runs (3 seeds), quick: 12 (mlp, relu and "
            "leaky, lr 0.01 and 0.1)",
            {
                "base": {"dataset": "mnist-mini", "epochs": 2, "train_size": 3000},
                "grid": {
                    "act": ["relu", "leaky", "prelu", "prelu-shared", "elu", "selu"],
                    "model": ["mlp", "cnn"],
                    "lr": [0.01, 0.03, 0.1, 0.3, 1.0],
                    "seed": [0, 1, 2],
                },
            },
            {"grid": {"act": ["relu", "leaky"], "model": ["mlp"], "lr": [0.01, 0.1]}},
            (
                Claim(
                    "relu-rises-with-lr",
                    "ReLU's dead fraction rises with the learning rate (mlp, lr 0.1 vs 0.01)",
                    '"as much as 40% of your network can be dead" at too high a learning rate',
                    {"act": "relu", "model": "mlp", "lr": 0.1},
                    {"metric": "dead_frac", "epoch": "last"},
                    {"greater_than": {"select": {"act": "relu", "model": "mlp", "lr": 0.01}}},
                ),
                *(
                    Claim(
                        f"{act}-stays-lower",
                        f"{act} keeps fewer dead units than ReLU at a high learning rate (mlp, "
                        "lr 0.1: at 0.3 most mlp runs diverge)",
                        "a non-zero negative side keeps units alive",
                        {"act": act, "model": "mlp", "lr": 0.1},
                        {"metric": "dead_frac", "epoch": "last"},
                        {"less_than": {"select": {"act": "relu", "model": "mlp", "lr": 0.1}}},
                    )
                    for act in ("leaky", "prelu", "elu")
                ),
                Claim(
                    "bn-cnn-stays-low",
                    "With batch norm (the cnn), ReLU loses fewer units at the standard lr 0.1 "
                    "than without (the mlp)",
                    "normalisation keeps pre-activations centred, so fewer units die",
                    {"act": "relu", "model": "cnn", "lr": 0.1},
                    {"metric": "dead_frac", "epoch": "last"},
                    {"less_than": {"select": {"act": "relu", "model": "mlp", "lr": 0.1}}},
                ),
            ),
            (
                {
                    "kind": "versus",
                    "x": "lr",
                    "log": True,
                    "metric": "dead_frac",
                    "by": ["model", "act"],
                    "epoch": "last",
                    "name": "dead-vs-lr",
                },
                {
                    "kind": "versus",
                    "x": "lr",
                    "log": True,
                    "metric": "test_acc",
                    "by": ["model", "act"],
                    "epoch": "last",
                    "name": "accuracy-vs-lr",
                },
            ),  # fmt: skip
        ),
        Study(
            "prelu-slopes",
            "PReLU's learned slopes: largest in the first layer, pulled to 0 by weight decay",
            HE,
            "the BN cnn, 3 epochs on 5,000 mnist-mini images, slopes at the weights' lr 0.02 "
            "(slope_lr 1, as He et al.), prelu and prelu-shared, slope_decay off and on; full: "
            "12 runs (3 seeds), quick: 4 (prelu, 2 seeds)",
            {
                "base": {
                    "dataset": "mnist-mini",
                    "model": "cnn",
                    "epochs": 3,
                    "train_size": 5000,
                    "lr": 0.02,
                    "slope_lr": 1.0,
                },
                "grid": {
                    "act": ["prelu", "prelu-shared"],
                    "slope_decay": [False, True],
                    "seed": [0, 1, 2],
                },
            },  # fmt: skip
            {"grid": {"act": ["prelu"], "seed": [0, 1]}},
            (
                *(
                    Claim(
                        f"first-layer-largest-{act}",
                        f"{act}: the first layer learns the largest slope, deeper layers smaller",
                        "conv1: 0.681 (channel-shared) / 0.596 (channel-wise), the largest of "
                        "the net; deeper layers smaller (Table 1)",
                        {"act": act, "slope_decay": False},
                        {"metric": "alpha_mean", "layers": "first", "epoch": "last"},
                        {
                            "greater_than": {
                                "select": {"act": act, "slope_decay": False},
                                "layers": "deep",
                            }
                        },
                    )  # fmt: skip
                    for act in ("prelu-shared", "prelu")
                ),
                Claim(
                    "decay-pulls-to-zero",
                    "Weight decay on the slopes pulls them toward 0 (toward ReLU)",
                    "weight decay tends to push a_i to zero, so it is not used on them (2.1)",
                    {"act": "prelu", "slope_decay": True},
                    {"metric": "alpha_mean", "layers": "all", "epoch": "last"},
                    {"less_than": {"select": {"act": "prelu", "slope_decay": False}}},
                ),
            ),
            (
                {
                    "kind": "layers",
                    "metrics": ["alpha_mean"],
                    "by": ["act", "slope_decay"],
                    "epoch": "last",
                    "name": "slopes-per-layer",
                },
            ),  # fmt: skip
        ),
        Study(
            "seed-claims",
            "What two popular explainers say of PReLU, Leaky ReLU and ELU",
            EXPLAINERS,
            "the BN cnn and the mlp, 3 epochs on mnist-mini, relu, leaky, prelu, prelu-shared, "
            "elu; full: 30 runs (3 seeds), quick: 16 (4 activations, 2 seeds, 3,000 images)",
            {
                "base": {"dataset": "mnist-mini", "epochs": 3},
                "grid": {
                    "act": ["relu", "leaky", "prelu", "prelu-shared", "elu"],
                    "model": ["cnn", "mlp"],
                    "seed": [0, 1, 2],
                },
            },
            {
                "base": {"train_size": 3000},
                "grid": {"act": ["relu", "leaky", "prelu", "elu"], "seed": [0, 1]},
            },
            (
                *(
                    Claim(
                        f"{act}-fewer-dead-{model}",
                        f"{act} addresses dead neurons: fewer dead units than ReLU ({model})",
                        f'{act} "addresses" / "helps mitigate" the dying ReLU problem',
                        {"act": act, "model": model},
                        {"metric": "dead_frac", "epoch": "last"},
                        {"less_than": {"select": {"act": "relu", "model": model}}},
                    )
                    for act in ("prelu", "leaky", "elu")
                    for model in ("cnn", "mlp")
                ),
                Claim(
                    "prelu-overfits",
                    "PReLU's extra parameters increase overfitting: a larger train - test "
                    "accuracy gap than ReLU (cnn)",
                    '"may increase the risk of overfitting"',
                    {"act": "prelu", "model": "cnn"},
                    {"metric": "gap", "epoch": "last"},
                    {"greater_than": {"select": {"act": "relu", "model": "cnn"}}},
                ),
                Claim(
                    "prelu-costs-more",
                    "PReLU costs more time per epoch than ReLU (cnn); the other explainer says "
                    "it comes without that overhead",
                    '"additional computational cost" vs "without the additional computational '
                    'overhead"',
                    {"act": "prelu", "model": "cnn"},
                    {"metric": "epoch_seconds", "epoch": "last"},
                    {"greater_than": {"select": {"act": "relu", "model": "cnn"}}},
                ),
                Claim(
                    "prelu-beats-leaky",
                    "Learning the slope gives a considerable rise in accuracy, unlike Leaky ReLU "
                    "(cnn)",
                    '"a considerable rise in the accuracy of a model, unlike Leaky ReLU"',
                    {"act": "prelu", "model": "cnn"},
                    {"metric": "test_acc", "epoch": "last"},
                    {"greater_than": {"select": {"act": "leaky", "model": "cnn"}}},
                ),
            ),
            (
                {
                    "kind": "epochs",
                    "metric": "dead_frac",
                    "by": ["model", "act"],
                    "name": "dead-per-epoch",
                },
            ),  # fmt: skip
        ),
    ]
}


def get_study(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown study {name!r}; choose one of: {', '.join(STUDIES)} (relubench study list)"
        ) from None
