"""Do PReLU's slopes learn? The same runs from three starting slopes: do they forget the start?

    python -m experiments.slope_learning                          # the default recipe, seeds 0-2
    python -m experiments.slope_learning --set slope_lr=1 --out results/slopes-lr1
    python -m experiments.slope_learning --quick                  # tiny synthetic runs, for tests

Trains `prelu` and `prelu-shared` from `prelu_init` 0.0, 0.25 and 0.5 on the same seeds (the
default recipe unless --set changes it; every run is a relubench run folder, so a second call
skips what is done). Per activation layer it reports the final mean slope from each start,
the gap between the 0.0 and 0.5 starts (at the end, against 0.5 at the start: slopes that
learn forget where they started, so the gap shrinks), whether the change from 0.25 has the
same sign on every seed, and the spread of the slopes within the layer (min-max, from 0.25).
A layer *forgets its start* when its gap, averaged over seeds, is at most half the starting gap
(0.25) and its direction repeats across seeds (a change of at least 0.01, with one sign on every
seed); it *learns* when the gap is that small on every seed, not only on average.
Figure: each layer's mean slope over training steps, for the
three starts (seed 0). The table goes to benchmarks/RESULTS.md (benchmarks/harness.py).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.harness import arguments, record, table
from relubench.config import parse_set
from relubench.runfolder import read_summary, read_table

ACTS = ("prelu", "prelu-shared")
INITS = (0.0, 0.25, 0.5)
MOVED = 0.01  # a layer's mean slope that changed less than this from 0.25 has no direction


def sweep(acts: list[str], seeds: list[int], sets: dict, out: str, jobs: int) -> list:
    import relubench

    spec = {
        "base": {**sets, "out": out},
        "grid": {"act": acts, "prelu_init": list(INITS), "seed": seeds},
    }
    plan = relubench.sweep_plan(spec)
    relubench.sweep(plan, jobs=jobs)
    return list(plan)


def slopes(folder: Path) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per layer, (epoch, mean, min, max) of the slopes, from layers.csv."""
    out: dict[str, list[tuple[int, float, float, float]]] = {}
    for r in read_table(folder / "layers.csv").rows:
        if r["alpha_mean"] is not None:
            row = (r["epoch"], r["alpha_mean"], r["alpha_min"], r["alpha_max"])
            out.setdefault(str(r["layer"]), []).append(row)
    return out


def analyse(configs: list) -> tuple[list[list], dict]:
    """The table's rows (one per act and layer) and the trajectories for the figure."""
    found: dict[tuple[str, float, int], dict] = {}
    for cfg in configs:
        summary = read_summary(cfg.run_dir) or {}
        if summary.get("status") != "complete":
            raise SystemExit(f"{cfg.run_dir}: {summary.get('status')}; rerun to finish it")
        found[(cfg.act, cfg.prelu_init, cfg.seed)] = slopes(cfg.run_dir)
    rows = []
    seeds = sorted({s for _, _, s in found})
    for act in sorted({a for a, _, _ in found}):
        layers = list(found[(act, INITS[1], seeds[0])])
        for layer in layers:

            def end(init: float, seed: int, layer: str = layer, act: str = act) -> tuple:
                return found[(act, init, seed)][layer][-1]

            gaps = [end(INITS[2], s)[1] - end(INITS[0], s)[1] for s in seeds]
            moves = [end(INITS[1], s)[1] - INITS[1] for s in seeds]
            # a direction only where the slope moved at all (0.01, the studies' "moved" floor)
            same_sign = all(m >= MOVED for m in moves) or all(m <= -MOVED for m in moves)
            start_gap = INITS[2] - INITS[0]
            learns = all(abs(g) <= start_gap / 2 for g in gaps) and same_sign
            forgets = abs(statistics.mean(gaps)) <= start_gap / 2 and same_sign
            spread = statistics.mean(end(INITS[1], s)[3] - end(INITS[1], s)[2] for s in seeds)
            rows.append(
                [
                    act,
                    layer,
                    *(f"{statistics.mean(end(i, s)[1] for s in seeds):.3f}" for i in INITS),
                    f"{statistics.mean(gaps):.3f} ({min(gaps):.3f}-{max(gaps):.3f})",
                    " ".join(f"{m:+.3f}" for m in moves),
                    "yes" if same_sign else "no",
                    f"{spread:.3f}",
                    "**yes**" if forgets else "no",
                    "**yes**" if learns else "no",
                ]
            )
    return rows, found


def steps_per_epoch(configs: list) -> dict[str, int]:
    """Training steps per epoch of each activation's runs (the split's train images over the
    batch size, the last partial batch dropped as the loop drops it)."""
    steps = {}
    for cfg in configs:
        split = (read_summary(cfg.run_dir) or {}).get("split") or {}
        steps[cfg.act] = max(1, int(split.get("train", 0)) // cfg.batch_size)
    return steps


def draw(found: dict, steps: dict[str, int], path: Path) -> None:
    """Each layer's mean slope over steps, per start (seed 0), one panel per activation."""
    from matplotlib.figure import Figure

    acts = sorted({a for a, _, _ in found})
    fig = Figure(figsize=(5.2 * len(acts), 4.2), dpi=120, layout="constrained")
    axes = fig.subplots(1, len(acts), squeeze=False)[0]
    seed = min(s for _, _, s in found)
    for ax, act in zip(axes, acts, strict=True):
        layers = list(found[(act, INITS[1], seed)])
        colors = [f"C{i}" for i in range(len(layers))]
        for init, style in zip(INITS, ("-", "--", ":"), strict=True):
            for layer, color in zip(layers, colors, strict=True):
                points = found[(act, init, seed)][layer]
                x = [e * steps[act] for e, *_ in points]
                label = layer if init == INITS[1] else None
                ax.plot(x, [m for _, m, *_ in points], style, color=color, label=label)
        ax.set_title(f"{act}, seed {seed}")
        ax.set_xlabel("training step")
        ax.set_ylabel("mean slope of the layer")
        ax.legend(fontsize="small")
    fig.suptitle("each layer's mean slope from 0.0 (solid), 0.25 (dashed) and 0.5 (dotted)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--acts", default=",".join(ACTS), help="activations (default: both)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds (default: 0,1,2)")
    parser.add_argument("--set", action="append", default=[], help="config key=value for all")
    parser.add_argument("--out", default="results/slope-learning", help="folder of run folders")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default: 2)")
    parser.add_argument("--figure", default="docs/slope-learning.png", help="PNG to write")
    quick = ["dataset=synthetic", "train_size=256", "test_size=64", "probe_size=32", "width=4"]
    args = parser.parse(quick={"seeds": "0,1", "figure": None})
    if args.quick:  # a smoke check: its runs go to a temporary folder, not the checkout
        import tempfile

        args.out = tempfile.mkdtemp(prefix="relubench-slope-learning-")
    sets = parse_set([*(quick if args.quick else []), *args.set])
    acts, seeds = args.acts.split(","), [int(s) for s in args.seeds.split(",")]
    configs = sweep(acts, seeds, sets, args.out, args.jobs)
    rows, found = analyse(configs)
    header = ["act", "layer", *(f"end from {i}" for i in INITS)]
    header += ["gap 0.5-0.0 (min-max)", "change from 0.25 per seed", "same sign", "spread"]
    header += ["forgets (mean gap)", "learns (every seed)"]
    learning = sum(r[-1] == "**yes**" for r in rows)
    forgetting = sum(r[-2] == "**yes**" for r in rows)
    shown = " ".join(f"--set {s}" for s in args.set) or "(the default recipe)"
    lines = [
        f"Runs: {', '.join(acts)} x starts {', '.join(map(str, INITS))} x seeds "
        f"{args.seeds}, {shown}. Means over seeds; a layer forgets its start when the 0.0 and "
        "0.5 starts end at most 0.25 apart on average over seeds, and learns when they do on "
        "every seed; both need the change from 0.25 to have one sign on every seed.",
        "",
        *table(header, rows, align="ll" + "r" * (len(header) - 2)),
        "",
        f"{forgetting} of {len(rows)} layers forget their start; {learning} of {len(rows)} "
        "learn on every seed.",
    ]
    print("\n".join(lines))
    if args.figure:
        draw(found, steps_per_epoch(configs), Path(args.figure))
        shown = args.figure if Path(args.figure).is_absolute() else f"../{args.figure}"
        lines.append(f"\n![slope trajectories]({shown})")  # from benchmarks/RESULTS.md
    record(__file__, lines, quick=args.quick)


if __name__ == "__main__":
    main()
