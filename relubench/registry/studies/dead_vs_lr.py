"""dead-vs-lr: too high a learning rate kills ReLU units; the other activations resist."""

from __future__ import annotations

from relubench.registry.studies.spec import Claim, Criterion, Figure, Measure, Study

SOURCE = (
    "Karpathy et al., CS231n: Convolutional Neural Networks for Visual Recognition, course "
    "notes, Neural Networks Part 1 (activation functions: ReLU)"
)
DEAD_LAST = Measure(metric="dead_frac", epoch="last")
RELU_MLP_HIGH = {"act": "relu", "model": "mlp", "lr": 0.1}


def _stays_lower(act: str) -> Claim:
    return Claim(
        id=f"{act}-stays-lower",
        claim=f"{act} keeps fewer dead units than ReLU at a high learning rate (mlp, lr 0.1: "
        "at 0.3 most mlp runs diverge)",
        paper="a non-zero negative side keeps units alive",
        select={"act": act, "model": "mlp", "lr": 0.1},
        measure=DEAD_LAST,
        criterion=Criterion(kind="less_than", select=RELU_MLP_HIGH),
    )


STUDY = Study(
    name="dead-vs-lr",
    title="Too high a learning rate kills ReLU units; the other activations resist",
    source=SOURCE,
    cost="mlp (no normalisation) and the BN cnn, 2 epochs on 3,000 mnist-mini images, the six "
    "activations x lr 0.01-1.0; full: 180 runs (3 seeds), quick: 12 (mlp, relu and leaky, lr "
    "0.01 and 0.1)",
    base={"dataset": "mnist-mini", "epochs": 2, "train_size": 3000},
    grid={
        "act": ["relu", "leaky", "prelu", "prelu-shared", "elu", "selu"],
        "model": ["mlp", "cnn"],
        "lr": [0.01, 0.03, 0.1, 0.3, 1.0],
        "seed": [0, 1, 2],
    },
    quick_grid={"act": ["relu", "leaky"], "model": ["mlp"], "lr": [0.01, 0.1]},
    claims=(
        Claim(
            id="relu-rises-with-lr",
            claim="ReLU's dead fraction rises with the learning rate (mlp, lr 0.1 vs 0.01)",
            paper='"as much as 40% of your network can be dead" at too high a learning rate',
            select=RELU_MLP_HIGH,
            measure=DEAD_LAST,
            criterion=Criterion(
                kind="greater_than", select={"act": "relu", "model": "mlp", "lr": 0.01}
            ),
        ),
        *(_stays_lower(act) for act in ("leaky", "prelu", "elu")),
        Claim(
            id="bn-cnn-stays-low",
            claim="With batch norm (the cnn), ReLU loses fewer units at the standard lr 0.1 "
            "than without (the mlp)",
            paper="normalisation keeps pre-activations centred, so fewer units die",
            select={"act": "relu", "model": "cnn", "lr": 0.1},
            measure=DEAD_LAST,
            criterion=Criterion(kind="less_than", select=RELU_MLP_HIGH),
        ),
    ),
    figures=(
        Figure(
            kind="versus",
            x="lr",
            log=True,
            metric="dead_frac",
            by=("model", "act"),
            epoch="last",
            name="dead-vs-lr",
        ),
        Figure(
            kind="versus",
            x="lr",
            log=True,
            metric="test_acc",
            by=("model", "act"),
            epoch="last",
            name="accuracy-vs-lr",
        ),
    ),  # fmt: skip
)
