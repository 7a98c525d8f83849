"""small-data: 1,000 training images, long training, no weight decay (Xu et al.'s setting):
do larger negative slopes and RReLU beat ReLU, and does PReLU overfit?"""

from __future__ import annotations

from relubench.registry.studies.spec import Claim, Criterion, Figure, Measure, Study

SOURCE = (
    "Xu, Wang, Chen & Li 2015, Empirical Evaluation of Rectified Activations in Convolutional "
    "Network (ICML Deep Learning Workshop), Tables 3-5 and Section 4"
)
ACC = Measure(metric="test_acc", epoch="last")
RELU = {"act": "relu"}
XU_SLOPE = 0.18  # Xu et al.'s "very leaky" ReLU: 1/5.5
ACC_WHY = "half a point: 10 of the 2,000 test images; less is not what 'beats' means"


def _beats(id: str, select: dict, paper: str, claim: str) -> Claim:
    return Claim(
        id=id,
        claim=claim,
        paper=paper,
        select=select,
        measure=ACC,
        criterion=Criterion(kind="greater_than", select=RELU),
        margin=0.005,
        why=ACC_WHY,
    )


STUDY = Study(
    name="small-data",
    title="Small data: larger negative slopes and RReLU against ReLU; does PReLU overfit?",
    source=SOURCE,
    cost="the cnn (batch norm) on Fashion-MNIST's first 1,000 training images, 40 epochs (320 "
    "steps of 128, one-cycle), no weight decay, 2,000 test images; the gap measured in eval "
    "mode on the 1,000 training images; relu, leaky 0.01, leaky 0.18, rrelu, prelu, elu; full: "
    "60 runs (10 seeds), 57 minutes with --jobs 2 on 2 cores (RReLU: 3.5 minutes a run); "
    "quick: 6 (relu, leaky 0.18, prelu, 2 seeds, 5 epochs)",
    n_why="10 seeds a setting, paired by seed, 3 claims under Holm: at Holm's first step "
    "(alpha 0.017) a mean difference must clear its margin by 0.9 sd of the per-seed "
    "differences (t_9 / sqrt 10); test accuracies of one setting differ by about 0.5-1 point "
    "between seeds on 1,000 images, so an edge of about 1 point beyond the margin is resolved, "
    "Xu et al.'s 1-3 points on CIFAR clearly",
    base={
        "dataset": "fashion-mnist",
        "model": "cnn",
        "epochs": 40,
        "train_size": 1000,
        "test_size": 2000,
        "probe_size": 1000,
        "probe_split": "train",
        "weight_decay": 0.0,
        "leaky_slope": 0.01,
    },
    grid={
        "act": ["relu", "leaky", "rrelu", "prelu", "elu"],
        "seed": list(range(10)),
    },
    controls=({"act": "leaky", "leaky_slope": XU_SLOPE},),
    quick_base={"epochs": 5},
    quick_grid={"act": ["relu", "prelu"], "seed": [0, 1]},
    claims=(
        _beats(
            "very-leaky-beats-relu",
            {"act": "leaky", "leaky_slope": XU_SLOPE},
            "leaky 1/5.5 beats ReLU on the small sets (CIFAR-10: 11.96% vs 12.45% error)",
            f"Leaky ReLU at slope {XU_SLOPE:g} beats ReLU on 1,000 images",
        ),
        _beats(
            "rrelu-beats-relu",
            {"act": "rrelu"},
            "RReLU beats ReLU, best on the small sets (CIFAR-100: 40.25% vs 42.90% error)",
            "RReLU beats ReLU on 1,000 images",
        ),
        Claim(
            id="prelu-overfits",
            claim="PReLU's gap between training and test accuracy (eval mode) is larger than "
            "ReLU's",
            paper="PReLU reaches the lowest training error but not the lowest test error: it "
            "overfits on small data (Section 4)",
            select={"act": "prelu"},
            measure=Measure(metric="eval_gap", epoch="last"),
            criterion=Criterion(kind="greater_than", select=RELU),
            margin=0.01,
            why="one point: a gap of 1,000-image training accuracy minus test accuracy moves "
            "by a point between seeds; less is not overfitting more",
        ),
    ),
    figures=(
        Figure(kind="epochs", metric="test_acc", by=("act", "leaky_slope"), name="test-accuracy"),
        Figure(
            kind="epochs",
            metric="probe_acc",
            by=("act", "leaky_slope"),
            name="train-accuracy-eval-mode",
        ),
        Figure(kind="epochs", metric="dead_frac", by=("act", "leaky_slope"), name="dead-units"),
    ),  # fmt: skip
)
