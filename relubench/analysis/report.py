"""The report: one self-contained HTML page (table, figures, configs, environment).

Figures are embedded as base64 PNG and the style sheet is inline, so the single file opens
offline and can be mailed or attached as is. Never imports torch.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from relubench._version import __version__
from relubench.analysis.cells import (
    APART_HEADER,
    apart_rows,
    display_header,
    display_rows,
    flag_legend,
    legend,
)
from relubench.analysis.curves import Curves, load_curves
from relubench.analysis.plots import draw_all, png_bytes
from relubench.analysis.stats import Comparison
from relubench.analysis.verdict_files import CLAIM_TEXT, read_verdict
from relubench.runfolder import Malformed, printable, read_bounded

ENV_KEYS = [
    ("relubench", "relubench"),
    ("torch", "torch"),
    ("python", "python"),
    ("platform", "platform"),
    ("env_device", "device"),
    ("device_name", "device name"),
    ("env_threads", "threads"),
]

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; overflow-wrap: break-word; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta, .legend, figcaption { color: #555; font-size: 0.92em; }
.scroll { overflow-x: auto; margin: 0.8em 0; }
/* borders not collapsed and whole-pixel rows: a sticky cell keeps its border as it scrolls */
table { border-spacing: 0; line-height: 20px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { border-bottom: 2px solid #999; background: #f7f7f7; }
td.key, th.key { text-align: left; }
td.key:first-child, th.key:first-child { position: sticky; left: 0; background: #fff; }
th.key:first-child { background: #f7f7f7; }
table.numbers th, table.numbers td { padding: 4px 7px; }
table.numbers td { white-space: nowrap; }
span.wrap { white-space: normal; display: inline-block; min-width: 7em; }
th.path, td.path { text-align: left; } td.path { overflow-wrap: anywhere; min-width: 14em; }
tr.best td { font-weight: 600; }
tr.differs td, tr.differs td.key { background: #fff7e0; }
.warn { color: #8a5a00; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
details { margin: 0.3em 0; } code { font-size: 0.92em; overflow-wrap: anywhere; }
"""


def _e(value: Any) -> str:
    """Any value for the page: HTML-escaped, control characters shown as escapes."""
    return html.escape(printable(str(value)), quote=True)


def _table(
    header: list[str],
    rows: list[list[str]],
    left: int = 1,
    *,
    numbers: bool = False,
    wrap: tuple[int, ...] = (),
    path: int | None = None,
    **row_class: str,
) -> str:
    """An HTML table in a box that scrolls sideways when the table is wider than the page.

    The first `left` columns are labels (left-aligned; the first stays in view as the box
    scrolls). In a `numbers` table a cell stays on one line ("95.70 ± 0.71" never splits at
    its ±) unless its column is in `wrap`. Column `path` holds paths, which break anywhere.
    """
    names = ["key" if i < left else "path" if i == path else "" for i in range(len(header))]
    cls = [f' class="{name}"' if name else "" for name in names]
    out = [
        '<div class="scroll"><table class="numbers">' if numbers else '<div class="scroll"><table>',
        "<tr>" + "".join(f"<th{c}>{_e(h)}</th>" for c, h in zip(cls, header, strict=True)),
    ]
    out[-1] += "</tr>"
    for i, row in enumerate(rows):
        klass = row_class.get(str(i), "")
        attr = f' class="{klass}"' if klass else ""
        texts = [_wrap(v) if j in wrap else _e(v) for j, v in enumerate(row)]
        cells = "".join(f"<td{c}>{t}</td>" for c, t in zip(cls, texts, strict=True))
        out.append(f"<tr{attr}>{cells}</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _wrap(value: str) -> str:
    """A cell's text that may wrap, though never after a comma or "<": "+1.20 [-0.40, +2.80]"
    and "not determined (detects ±4.00)" break before the bracket, not inside it."""
    text = _e(re.sub(r"(?<=[,<]) ", "\u00a0", value))
    return f'<span class="wrap">{text}</span>'


def _values(runs: list[dict[str, Any]], column: str) -> str:
    """A group's value of a column: one value, or every distinct value (e.g. its seeds)."""
    values = list(dict.fromkeys(str(r[column]) for r in runs if column in r))
    return ", ".join(values) or "–"


def _by_group(comp: Comparison) -> dict[str, list[dict[str, Any]]]:
    """The runs in the means of each group, in the table's order, sorted by run id."""
    runs = {g["group"]: [] for g in comp.groups}
    for r in sorted(comp.included, key=lambda r: r["run_id"]):
        runs[r["group"]].append(r)
    return runs


def _config_section(comp: Comparison) -> str:
    """Config keys x groups; a row whose value differs between groups is highlighted."""
    groups = _by_group(comp)
    keys = [k for k in comp.config_keys if k not in ("out", "data_dir")]  # paths, not settings
    rows, classes = [], {}
    for key in keys:
        cells = [_values(runs, key) for runs in groups.values()]
        if len(set(cells)) > 1 and key != "seed":
            classes[str(len(rows))] = "differs"
        rows.append([key, *cells])
    note = (
        '<p class="legend">Highlighted: keys that differ between groups. Rerun any run with '
        "<code>relubench train --config &lt;run folder&gt;/config.yaml</code>.</p>"
    )
    return _table(["key", *groups], rows, **classes) + note


def _environment_section(comp: Comparison) -> str:
    groups = _by_group(comp)
    rows = [[name, *(_values(runs, col) for runs in groups.values())] for col, name in ENV_KEYS]
    return _table(["", *groups], rows)


def _runs_section(comp: Comparison) -> str:
    parts = []
    for g, runs in _by_group(comp).items():
        rows = [
            [r["run_id"], str(r.get("seed", "–")), f"{100 * r['final_test_acc']:.2f}", r["path"]]
            for r in runs
        ]
        table = _table(["run", "seed", "final acc %", "folder"], rows, path=3)
        parts.append(f"<details><summary>{_e(g)}: {len(rows)} runs</summary>{table}</details>")
    return "\n".join(parts)


def _figures_section(curves: Curves) -> str:
    parts = []
    for spec, fig in draw_all(curves):
        data = base64.b64encode(png_bytes(fig)).decode()
        parts.append(
            f'<figure id="fig-{spec.name}"><h3>{_e(spec.title)}</h3>'
            f'<img alt="{_e(spec.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(spec.caption)}</figcaption></figure>"
        )
    return "\n".join(parts) or "<p>No curves could be read.</p>"


MAX_FIGURE_BYTES = 32 * 2**20  # a study figure is a few hundred KB


def _verdicts_section(sources: list[str], skipped: list[tuple[str, str]]) -> list[str]:
    """Each study folder among `sources` (it holds verdict.json): its verdict table and its
    figures, before anything else. A verdict.json or figure that cannot be used is added to
    `skipped` with the reason."""
    parts = []
    for source in sources:
        try:
            doc = read_verdict(Path(source))
        except Malformed as e:
            skipped.append((str(source), f"no verdicts: {e}"))
            continue
        if doc is None:
            continue
        quick = " (quick)" if doc.get("quick") is True else ""
        rows = [[c[k] for k in CLAIM_TEXT] for c in doc["claims"]]
        runs = doc.get("runs")
        parts += [
            f"<h2>Verdicts: {_e(doc['study'])}{quick}</h2>",
            f"<p>{_e(doc['title'])}. Source: {_e(doc.get('source', '?'))}; "
            f"{_e(runs if isinstance(runs, int) else '?')} runs.</p>",
            _table(["claim", "paper", "measured", "criterion", "verdict"], rows, left=5),
        ]
        for png in sorted(Path(source).glob("*.png")):
            try:
                data = base64.b64encode(read_bounded(png, MAX_FIGURE_BYTES)).decode()
            except (Malformed, OSError) as e:
                skipped.append((str(source), f"figure left out: {e}"))
                continue
            parts.append(f'<figure><img alt="{_e(png.stem)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_e(png.name)}</figcaption></figure>")  # fmt: skip
    return parts


def build_report(
    comp: Comparison,
    sources: list[str],
    title: str = "relubench report",
    skipped: list[tuple[str, str]] | None = None,
) -> str:
    """The whole page as one string. Every value from a file is HTML-escaped. What was left
    out (runs without curves, study files that cannot be used) is listed on the page and
    added to `skipped` (path, why), for the caller to say."""
    skipped = [] if skipped is None else skipped
    curves = load_curves(comp)
    verdicts = _verdicts_section([str(s) for s in sources], skipped)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    n_in, n_apart = len(comp.included), len(comp.apart)
    by = ", ".join(comp.keys) or "nothing"
    sentence = (
        f"{n_in} runs in {len(comp.groups)} groups (grouped by {by}); "
        f"{n_apart} runs not in the means; {len(comp.skipped)} folders skipped."
    )
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">relubench {_e(__version__)} · generated {_e(now)} · '
        f"from {_e(', '.join(sources))}</p>",
        f"<p>{_e(sentence)}</p>",
        *verdicts,
        "<h2>Comparison</h2>",
    ]
    if comp.groups:
        best = {"0": "best"} if len(comp.groups) > 1 else {}
        header = display_header(comp)
        wrap = tuple(i for i, h in enumerate(header) if h.startswith("Δ") or h == "verdict")
        table = _table(
            header, display_rows(comp), left=len(comp.keys), numbers=True, wrap=wrap, **best
        )
        body.append(table)
        body.append(f'<p class="legend">{_e(legend(comp))}.</p>')
        if flag_legend(comp):
            body.append(f'<p class="legend">{_e(flag_legend(comp))}.</p>')
    for note in comp.notes:
        body.append(f'<p class="warn">{_e(note)}</p>')
    if n_apart:
        body += ["<h3>Runs not in the means</h3>", _table(APART_HEADER, apart_rows(comp))]
    if comp.groups:
        body += ["<h2>Figures</h2>", _figures_section(curves)]
        body += ["<h2>Configuration per group</h2>", _config_section(comp)]
        body += ["<h2>Environment</h2>", _environment_section(comp)]
        body += ["<h2>Runs</h2>", _runs_section(comp)]
    skipped += curves.skipped
    left_out = comp.skipped + skipped
    if left_out:
        items = "".join(f"<li><code>{_e(p)}</code>: {_e(why)}</li>" for p, why in left_out)
        body += ["<h2>Skipped</h2>", f'<ul class="warn">{items}</ul>']
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
