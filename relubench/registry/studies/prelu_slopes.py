"""prelu-slopes: PReLU's learned slopes, largest in the first layer, pulled to 0 by decay."""

from __future__ import annotations

from relubench.registry.studies.spec import Claim, Criterion, Figure, Measure, Study

SOURCE = (
    "He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers: Surpassing Human-Level Performance "
    "on ImageNet Classification (ICCV), Table 1 and Section 2.1"
)


def _first_layer_largest(act: str) -> Claim:
    undecayed = {"act": act, "slope_decay": False}
    return Claim(
        id=f"first-layer-largest-{act}",
        claim=f"{act}: the first layer learns the largest slope, deeper layers smaller",
        paper="conv1: 0.681 (channel-shared) / 0.596 (channel-wise), the largest of the net; "
        "deeper layers smaller (Table 1)",
        select=undecayed,
        measure=Measure(metric="alpha_mean", layers="first", epoch="last"),
        criterion=Criterion(kind="greater_than", select=undecayed, layers="deep"),
    )


STUDY = Study(
    name="prelu-slopes",
    title="PReLU's learned slopes: largest in the first layer, pulled to 0 by weight decay",
    source=SOURCE,
    cost="the BN cnn, 3 epochs on 5,000 mnist-mini images, slopes stepped by their gradient "
    "at the weights' lr 0.02 (slope_lr 1, slope_update grad, as He et al.), prelu and "
    "prelu-shared, slope_decay off and on; full: 12 runs (3 seeds), quick: 4 (prelu, 2 seeds)",
    base={
        "dataset": "mnist-mini",
        "model": "cnn",
        "epochs": 3,
        "train_size": 5000,
        "lr": 0.02,
        "slope_lr": 1.0,
        "slope_update": "grad",  # He et al.'s optimiser, not relubench's default (sign)
    },
    grid={"act": ["prelu", "prelu-shared"], "slope_decay": [False, True], "seed": [0, 1, 2]},
    quick_grid={"act": ["prelu"], "seed": [0, 1]},
    claims=(
        *(_first_layer_largest(act) for act in ("prelu-shared", "prelu")),
        Claim(
            id="decay-pulls-to-zero",
            claim="Weight decay on the slopes pulls them toward 0 (toward ReLU)",
            paper="weight decay tends to push a_i to zero, so it is not used on them (2.1)",
            select={"act": "prelu", "slope_decay": True},
            measure=Measure(metric="alpha_mean", layers="all", epoch="last"),
            criterion=Criterion(kind="less_than", select={"act": "prelu", "slope_decay": False}),
        ),
    ),
    figures=(
        Figure(
            kind="layers",
            metrics=("alpha_mean",),
            by=("act", "slope_decay"),
            epoch="last",
            name="slopes-per-layer",
        ),
    ),  # fmt: skip
)
