"""Figures of a comparison: why the activations differ, not only by how much.

  accuracy     test accuracy per epoch, mean ± std band per group
  dead_units   dead fraction of all units per epoch, mean ± std band per group
  dead_layers  dead fraction per layer x epoch, a heatmap per group
  slopes       PReLU slopes per layer and epoch: mean, band = min-max over channels and seeds
  activations  each group's f(x), with the slopes PReLU learned drawn in, layer by layer

Built on matplotlib's object API (Figure, never pyplot): no global state and no GUI backend, so
it runs headless and leaves a caller's matplotlib settings alone. Reads metrics.csv and
layers.csv of the runs in a Comparison; never imports torch.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relubench.analysis.curves import Curves, load_curves
from relubench.analysis.stats import Comparison
from relubench.config import RunConfig
from relubench.files import atomic_write
from relubench.registry.activations import ACTS

DPI = 150  # PNG pixels = inches x DPI
WIDE = (7.5, 4.5)  # inches, an axes of epochs (the band figures add a zoom and a legend column)
PANEL = (4.4, 3.3)  # inches per panel of the grid figures
MAX_COLUMNS = 3  # panels per row
FORMATS = ("png", "svg")
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "relubench",  # stable SVG ids, so re-plotting the same runs diffs clean
    "text.parse_math": False,  # labels come from paths and config values: `$` is no TeX
}


# ---------------------------------------------------------------------------------------------
# The figures


def _colors(groups: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(groups) <= 10 else "tab20"]
    return {g: cmap(i % cmap.N) for i, g in enumerate(groups)}


def _layer_colors(n: int) -> list[Any]:
    """Sequential by depth (dark = first layer), so 'deeper' reads as a direction."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.85 * i / max(1, n - 1)) for i in range(n)]


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _grid(n: int, title: str) -> tuple[Any, list[Any]]:
    """A figure of n panels, MAX_COLUMNS per row; unused panels hidden."""
    cols = min(MAX_COLUMNS, max(1, n))
    rows = math.ceil(max(1, n) / cols)
    # At least as wide as the one-axes figures, so a single panel keeps its title readable.
    fig = _figure((max(WIDE[0], PANEL[0] * cols), PANEL[1] * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n]


def _integer_epochs(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _bands(ax: Any, curves: Curves, stats: pd.DataFrame, epochs: slice | None = None) -> None:
    colors = _colors(curves.groups)
    for g in curves.groups:
        s = stats.loc[g] if epochs is None else stats.loc[g].loc[epochs]
        x, mean, std = s.index.to_numpy(), 100 * s["mean"].to_numpy(), 100 * s["std"].to_numpy()
        ax.plot(x, mean, color=colors[g], lw=1.8, label=f"{g} (n={curves.sizes.get(g, 0)})")
        if np.isfinite(std).any():  # a percentage: the band stays inside [0, 100]
            lo, hi = np.clip(mean - std, 0, 100), np.clip(mean + std, 0, 100)
            ax.fill_between(x, lo, hi, color=colors[g], alpha=0.2, lw=0)
    _integer_epochs(ax)


def _band_figure(curves: Curves, column: str, title: str, ylabel: str, zoom: bool) -> Any:
    """Mean over the runs of each group per epoch, with a ± std band (none for n = 1).

    With `zoom`, a second panel shows the second half of training on its own scale: the first
    epoch's jump from chance otherwise flattens the differences that decide the table.
    """
    stats = curves.metrics.groupby(["group", "epoch"])[column].agg(["mean", "std"])
    last = int(curves.metrics["epoch"].max())
    zoom = zoom and last >= 4
    fig = _figure((WIDE[0] + (3.5 if zoom else 0) + 1.6, WIDE[1]))  # + room for the legend
    if zoom:
        ax, detail = fig.subplots(1, 2, width_ratios=[3, 2])
        _bands(detail, curves, stats, slice(last // 2, None))
        detail.set_title(f"epochs {last // 2}–{last}, zoomed")
        detail.set_xlabel("epoch")
    else:
        ax = fig.add_subplot()
    _bands(ax, curves, stats)
    fig.suptitle(title)
    ax.set_xlabel("epoch (0 = at init, before any step)")
    ax.set_ylabel(ylabel)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False)
    return fig


def accuracy_figure(curves: Curves) -> Any:
    return _band_figure(
        curves,
        "test_acc",
        "Test accuracy per epoch (mean ± std over seeds)",
        "test accuracy (%)",
        zoom=True,
    )


def dead_units_figure(curves: Curves) -> Any:
    return _band_figure(
        curves,
        "dead_frac",
        "Dead units: never positive on the probe set (mean ± std over seeds)",
        "dead units, whole net (%)",
        zoom=False,
    )


def _layer_order(frame: pd.DataFrame) -> list[str]:
    return list(frame.groupby("layer")["depth"].min().sort_values().index)


def dead_layers_figure(curves: Curves) -> Any | None:
    """A layer x epoch heatmap per group, one colour scale for all, so panels compare."""
    groups = [g for g in curves.groups if g in set(curves.layers["group"])]
    if not groups:
        return None
    vmax = max(0.05, float(curves.layers.groupby(["group", "layer", "epoch"])["dead_frac"]
                           .mean().max()))  # fmt: skip
    vmax = math.ceil(vmax * 10) / 10  # a round top: 10%, 20%, ...
    fig, axes = _grid(len(groups), "Dead units per layer and epoch (mean over seeds)")
    image = None
    for ax, g in zip(axes, groups, strict=True):
        frame = curves.layers[curves.layers["group"] == g]
        order = _layer_order(frame)
        grid = frame.pivot_table(index="layer", columns="epoch", values="dead_frac", aggfunc="mean")
        grid = grid.reindex(order)
        image = ax.imshow(
            100 * grid.to_numpy(dtype=float),
            aspect="auto",
            cmap="Reds",
            vmin=0,
            vmax=100 * vmax,
            interpolation="nearest",
            extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, len(order) - 0.5, -0.5),
        )
        if grid.shape[1] <= 12 and grid.shape[0] <= 8:  # room to print the numbers
            for i, layer in enumerate(order):
                for epoch, v in grid.loc[layer].items():
                    if np.isfinite(v):
                        dark = 100 * v > 60 * vmax
                        ax.text(epoch, i, f"{100 * v:.0f}", ha="center", va="center",
                                fontsize=7, color="white" if dark else "black")  # fmt: skip
        ax.set_yticks(range(len(order)), order)
        ax.grid(False)
        _integer_epochs(ax)
        ax.set_title(f"{g} (n={frame['run_id'].nunique()})")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("layer (input → output)")
    fig.colorbar(image, ax=axes, label="dead units (%)", shrink=0.9)
    return fig


def _has_slopes(frame: pd.DataFrame) -> bool:
    return bool(frame["alpha_mean"].notna().any())


def slopes_figure(curves: Curves) -> Any | None:
    """Per group with learned slopes: one line per layer (mean), band min-max; init dotted."""
    groups = [g for g in curves.groups if _has_slopes(curves.layers[curves.layers["group"] == g])]
    if not groups:
        return None
    fig, axes = _grid(
        len(groups), "PReLU slopes per layer: mean (line), min–max over channels and seeds (band)"
    )
    for ax, g in zip(axes, groups, strict=True):
        frame = curves.layers[curves.layers["group"] == g]
        order = _layer_order(frame)
        for layer, color in zip(order, _layer_colors(len(order)), strict=True):
            rows = frame[frame["layer"] == layer].groupby("epoch")
            mean = rows["alpha_mean"].mean()
            lo, hi = rows["alpha_min"].min(), rows["alpha_max"].max()
            ax.plot(mean.index, mean.to_numpy(), color=color, lw=1.6, label=layer)
            ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.12)
        init = curves.configs[g].get("prelu_init")
        if isinstance(init, (int, float)):
            ax.axhline(init, color="0.4", ls=":", lw=1, label=f"init {init:g}")
        ax.set_title(f"{g} (n={frame['run_id'].nunique()})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("slope a of the negative side")
        _integer_epochs(ax)
        ax.legend(loc="best", frameon=False)
    return fig


def _curve(act: str, config: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray] | None:
    """f(x) of a registry activation with the run's parameters (None for a name unknown here,
    e.g. a run of a newer relubench: drawn as a note, never an error)."""
    spec = ACTS.get(act)
    if spec is None:
        return None
    defaults = RunConfig()
    p = {k: float(config.get(k, getattr(defaults, k))) for k in spec.params}
    return lambda x: spec.curve(x, p)


def _act_params(act: str, config: dict[str, Any]) -> str:
    spec = ACTS.get(act)
    if spec is None or spec.slope:  # learned slopes are drawn, not named
        return ""
    return ", ".join(f"{k}={config.get(k)}" for k in spec.params)


def activations_figure(curves: Curves) -> Any | None:
    """Each group's f(x); for learned slopes, the final mean slope of every layer drawn in."""
    panels: list[tuple[str, str]] = []  # (group, title)
    seen: set[tuple[str, str]] = set()
    for g in curves.groups:
        config = curves.configs[g]
        act = str(config.get("act", ""))
        learned = _has_slopes(curves.layers[curves.layers["group"] == g])
        key = (act, _act_params(act, config))
        if not learned and key in seen:  # one panel per fixed curve, one per learned group
            continue
        seen.add(key)
        params = f" ({key[1]})" if key[1] else ""
        n = curves.sizes.get(g, 0)
        panels.append((g, f"{g} (n={n}): final slopes" if learned else f"{act}{params}"))
    if not panels:
        return None
    fig, axes = _grid(len(panels), "The activations f(x); PReLU with the slopes it learned")
    x = np.linspace(-3, 2, 501)  # mostly the negative side, where the activations differ
    for ax, (g, title) in zip(axes, panels, strict=True):
        config = curves.configs[g]
        act = str(config.get("act", ""))
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        if act != "relu":
            ax.plot(x, np.maximum(0, x), color="0.75", lw=3, label="relu", zorder=1)
        frame = curves.layers[curves.layers["group"] == g]
        f = _curve(act, config)
        bottom = -2.0
        if _has_slopes(frame):
            last = frame[frame["epoch"] == frame.groupby("run_id")["epoch"].transform("max")]
            order = _layer_order(last)
            neg = x[x <= 0]
            init = config.get("prelu_init")
            if isinstance(init, (int, float)):
                ax.plot(neg, init * neg, color="0.3", ls=":", lw=1.2, label=f"init a={init:g}")
            for layer, color in zip(order, _layer_colors(len(order)), strict=True):
                a = float(last.loc[last["layer"] == layer, "alpha_mean"].mean())
                ax.plot(neg, a * neg, color=color, lw=1.6, label=f"{layer} a={a:.3f}")
                bottom = min(bottom, -3 * a - 0.2)  # keep steep learned slopes in view
            ax.plot(x[x >= 0], x[x >= 0], color="black", lw=1.6)
        elif f is not None:
            ax.plot(x, f(x), color="black", lw=1.8, label=act)
        else:
            ax.text(0.5, 0.5, f"no curve for {act!r}", transform=ax.transAxes, ha="center")
        ax.set_xlim(-3, 2)
        ax.set_ylim(bottom, 2)
        ax.set_title(title)
        ax.set_xlabel("x (pre-activation)")
        ax.set_ylabel("f(x)")
        ax.legend(loc="lower right", frameon=False)  # x > 0, f(x) < 0: empty for every f
    return fig


@dataclass(frozen=True)
class FigureSpec:
    name: str  # file stem
    title: str
    caption: str  # what to look for, for the report
    draw: Callable[[Curves], Any]


FIGURES = [
    FigureSpec(
        "accuracy",
        "Test accuracy per epoch",
        "Mean over seeds with a ± 1 std band. Epoch 0 is the network at init.",
        accuracy_figure,
    ),
    FigureSpec(
        "dead_units",
        "Dead units per epoch",
        "Fraction of all units whose pre-activation is never positive on the probe set. For relu "
        "these pass no gradient at all; for the others the test reads 'never positive'.",
        dead_units_figure,
    ),
    FigureSpec(
        "dead_layers",
        "Dead units per layer",
        "Where units die: rows are the activation layers from input to output, one shared "
        "colour scale.",
        dead_layers_figure,
    ),
    FigureSpec(
        "slopes",
        "PReLU slopes per layer",
        "He et al. 2015 found large slopes in the first layers and small ones deeper; the lines "
        "show whether these runs do the same.",
        slopes_figure,
    ),
    FigureSpec(
        "activations",
        "The activation functions",
        "Each group's f(x) (grey: relu for reference); for PReLU, the final mean slope of each "
        "layer on the negative side.",
        activations_figure,
    ),
]


def draw_all(curves: Curves) -> Iterator[tuple[FigureSpec, Any]]:
    """Every figure that has data (slopes only with PReLU runs), in FIGURES order.

    A generator, so the caller saves each figure inside our style and only one is alive at a time.
    """
    import matplotlib

    if not len(curves.metrics):
        return
    with matplotlib.rc_context(STYLE):  # our style for these figures only
        for spec in FIGURES:
            fig = spec.draw(curves)
            if fig is not None:
                yield spec, fig


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def save_figure(fig: Any, stem: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """`fig` as stem.png and stem.svg, each written atomically, without timestamps (the same
    runs give the same bytes)."""
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        atomic_write(path, partial(fig.savefig, format=fmt, dpi=DPI, metadata=meta))
        paths.append(path)
    return paths


def save_figures(
    comp: Comparison, out_dir: str | Path, formats: tuple[str, ...] = FORMATS
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Write every figure as PNG and SVG into out_dir; returns (files, runs skipped with why).

    CompareError when out_dir is or lies inside a run folder. Each file is written
    atomically; a figure an earlier plot left there that these runs do
    not have (slopes, without PReLU runs) is removed, so the folder shows these runs only.
    """
    from relubench.analysis.load import refuse_run_folder

    out_dir = Path(out_dir)
    refuse_run_folder(out_dir)  # a run folder's own files are never replaced by figures
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = load_curves(comp)
    written = []
    for spec, fig in draw_all(curves):
        written += save_figure(fig, out_dir / spec.name, formats)
    for spec in FIGURES:
        for fmt in formats:
            stale = out_dir / f"{spec.name}.{fmt}"
            if stale not in written:
                stale.unlink(missing_ok=True)
    return written, curves.skipped
