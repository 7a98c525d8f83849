"""born-dead: a deep ReLU net is born with dead units, the more the deeper."""

from __future__ import annotations

from relubench.registry.studies.common import AT_INIT
from relubench.registry.studies.spec import Claim, Criterion, Figure, Measure, Study

SOURCE = (
    "Lu, Shin, Su & Karniadakis 2020, Dying ReLU and Initialization: Theory and Numerical "
    "Examples (Commun. Comput. Phys. 28)"
)
RELU_DEPTH32 = {"act": "relu", "depth": 32}
UNIT = 0.02
UNIT_WHY = "about one unit of a 64-unit layer (1.6%): less is no change in what the net computes"

STUDY = Study(
    name="born-dead",
    title="A deep ReLU net is born with dead units, the more the deeper",
    source=SOURCE,
    cost="MLPs of width 64 and depth 4, 8, 16, 32, at init on mnist-mini images, relu and "
    "selu; full: 80 runs (10 seeds), quick: 24 (3 seeds)",
    n_why="10 seeds, 3 claims under Holm: at Holm's first step (alpha 0.0167) a mean (or a "
    "paired difference) must clear its bound or margin by 0.93 seed-to-seed sd (t_9 / sqrt "
    "10); at init a run costs about a second, and a dead fraction that grows with depth by "
    "several units a layer (the 0.02 margin is about one) is resolved",
    base={**AT_INIT, "width": 64},
    grid={"act": ["relu", "selu"], "depth": [4, 8, 16, 32], "seed": list(range(10))},
    quick_grid={"seed": [0, 1, 2]},
    claims=(
        Claim(
            id="dead-at-init",
            claim="A deep ReLU net with symmetric init has dead units before any training",
            paper="a deep ReLU network will eventually die in probability as the depth goes "
            "to infinity (their abstract)",
            select=RELU_DEPTH32,
            measure=Measure(metric="dead_frac", layers="all", epoch=0),
            criterion=Criterion(kind="above", bound=0.01),
        ),
        Claim(
            id="grows-with-depth",
            claim="The deeper the ReLU net, the larger its share of dead units at init",
            paper="the probability of a dead network grows with depth",
            select=RELU_DEPTH32,
            measure=Measure(metric="dead_frac", layers="all", epoch=0),
            criterion=Criterion(kind="greater_than", select={"act": "relu", "depth": 4}),
            margin=UNIT,
            why=UNIT_WHY,
        ),
        Claim(
            id="deep-layers-die",
            claim="Within a deep ReLU net, the deeper half of the layers holds more dead units "
            "than the shallower half (death compounds through depth)",
            paper="dying propagates: once a layer's units die, those after follow",
            select=RELU_DEPTH32,
            measure=Measure(metric="dead_frac", layers="deep", epoch=0),
            criterion=Criterion(kind="greater_than", select=RELU_DEPTH32, layers="shallow"),
            margin=UNIT,
            why=UNIT_WHY,
        ),
    ),
    figures=(
        Figure(kind="versus", x="depth", metric="dead_frac", layers="all", by=("act",), epoch=0),
        Figure(kind="layers", metrics=("dead_frac",), where={"depth": 32}, by=("act",), epoch=0),
    ),
)
