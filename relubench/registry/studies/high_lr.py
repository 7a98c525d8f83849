"""high-lr: a constant, too high learning rate without normalisation or warm-up kills ReLU
units (CS231n's "up to 40%"); which activations avoid it, and at what cost."""

from __future__ import annotations

from relubench.registry.studies.spec import Check, Claim, Criterion, Figure, Measure, Study

SOURCE = (
    "Karpathy et al., CS231n: Convolutional Neural Networks for Visual Recognition, course "
    "notes, Neural Networks Part 1 (activation functions: ReLU, 'as much as 40% of your "
    "network can be dead')"
)
DEAD = Measure(metric="dead_frac", epoch="last")
HIGH = 0.05  # the claims' "too high" lr: ReLU loses a third of its units there (pilot below)
RELU_HIGH = {"act": "relu", "lr": HIGH}
MARGIN = 0.05
WHY = "5% of the units, 18 of the cnn's 352: fewer is a unit here and there, not a dying net"
RELU_DIES = Check(
    what=f"ReLU loses at least 10% of its units at lr {HIGH:g} (room for an effect beyond the "
    "margin: without it there is nothing to avoid)",
    select=RELU_HIGH,
    measure=DEAD,
    least=0.10,
)
OTHERS = ("leaky", "prelu", "prelu-shared", "elu", "selu")


def _avoids(act: str) -> Claim:
    return Claim(
        id=f"{act}-keeps-units",
        claim=f"{act} keeps more of its units alive than ReLU at lr {HIGH:g}",
        paper="a non-zero negative side keeps gradients flowing, so units recover",
        select={"act": act, "lr": HIGH},
        measure=DEAD,
        criterion=Criterion(kind="less_than", select=RELU_HIGH),
        margin=MARGIN,
        why=WHY,
        checks=(RELU_DIES,),
    )


STUDY = Study(
    name="high-lr",
    title="A too high learning rate kills ReLU units: which activations avoid it, at what cost",
    source=SOURCE,
    cost="the cnn without its batch norm, Fashion-MNIST's first 4,000 training images, 2,000 "
    "test images, 3 epochs (96 steps of 128) at a constant lr (no schedule, no warm-up), "
    "dead units on the first 1,024 training images; the six activations x lr 0.01, 0.02, "
    "0.05, 0.1; full: 240 runs (10 seeds), 23 minutes with --jobs 2 on 2 cores; quick: 8 (relu "
    "and elu at lr 0.01 and 0.05, 2 seeds, 1 epoch on 2,000 images)",
    n_why="10 seeds a setting, paired by seed, 7 claims under Holm: at Holm's first step "
    "(alpha 0.007) a mean difference must clear the 0.05 margin by 1.1 sd of the per-seed "
    "differences (t_9 / sqrt 10); a pilot (seeds 100-101, ReLU only, not part of the study) "
    "lost 35% of ReLU's units at lr 0.05 and 73% at 0.1 (at chance there): losses of that "
    "size are resolved, and a divergence is an outcome, counted",
    base={
        "dataset": "fashion-mnist",
        "model": "cnn",
        "norm": "none",
        "epochs": 3,
        "train_size": 4000,
        "test_size": 2000,
        "schedule": "none",
        "probe_split": "train",
    },
    grid={
        "act": ["relu", *OTHERS],
        "lr": [0.01, 0.02, 0.05, 0.1],
        "seed": list(range(10)),
    },
    quick_base={"epochs": 1, "train_size": 2000},
    quick_grid={"act": ["relu", "elu"], "lr": [0.01, 0.05], "seed": [0, 1]},
    claims=(
        Claim(
            id="relu-dies-with-lr",
            claim=f"ReLU loses more of its units at lr {HIGH:g} than at 0.01",
            paper="too high a learning rate kills ReLU units",
            select=RELU_HIGH,
            measure=DEAD,
            criterion=Criterion(kind="greater_than", select={"act": "relu", "lr": 0.01}),
            margin=MARGIN,
            why=WHY,
        ),
        Claim(
            id="relu-40-percent-dead",
            claim="At lr 0.1, 40% of ReLU's units or more are dead",
            paper='"as much as 40% of your network can be dead"',
            select={"act": "relu", "lr": 0.1},
            measure=DEAD,
            criterion=Criterion(kind="above", bound=0.4),
            why="CS231n's figure",
        ),
        *(_avoids(act) for act in OTHERS),
    ),
    figures=(
        *(
            Figure(kind="versus", x="lr", log=True, metric=metric, by=("act",), name=name)
            for metric, name in (
                ("dead_frac", "dead-vs-lr"),
                ("dormant_frac", "dormant-vs-lr"),
                ("failed", "failed-vs-lr"),
                ("test_acc", "accuracy-vs-lr"),
            )
        ),
        Figure(
            kind="relative",
            metric="test_acc",
            x="lr",
            log=True,
            baseline={"act": "relu"},
            band=0.01,
            by=("act",),
            name="accuracy-vs-relu",
        ),
    ),  # fmt: skip
)
