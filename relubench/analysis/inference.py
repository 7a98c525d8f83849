"""What a difference against the baseline means: its CI, effect size, Holm-adjusted p, verdict.

Per group against its baseline group (final test accuracy over seeds):

- difference of means, with the 95% Welch confidence interval (unequal variances);
- Hedges' g: the difference over the pooled standard deviation, with the small-sample
  correction J = 1 - 3 / (4 (n1 + n2) - 9) (Hedges 1981);
- Welch's p, and Holm's step-down adjustment across every group compared with the baseline
  (Holm 1979): with p sorted ascending, p_(i) * (m - i + 1), made monotone, capped at 1;
- a verdict at alpha = 0.05 after Holm: `better`, `worse`, or `no detectable difference`,
  and for the last, the smallest difference these n could have detected with 80% power (a
  two-sided two-sample t-test at alpha = 0.05, the pooled standard deviation as the noise:
  the noncentral t, as statsmodels' TTestIndPower computes it).

scipy.special only (scipy.stats costs half a second to import). Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ALPHA = 0.05
POWER = 0.8


def _moments(a: Sequence[float]) -> tuple[int, float, float]:
    n = len(a)
    m = sum(a) / n
    return n, m, sum((x - m) ** 2 for x in a) / (n - 1)


def pooled_sd(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    na, _, va = _moments(a)
    nb, _, vb = _moments(b)
    return math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Bias-corrected standardized difference (mean a - mean b) / pooled sd; None without
    spread or with fewer than two values a side."""
    sd = pooled_sd(a, b)
    if not sd:
        return None
    na, nb = len(a), len(b)
    j = 1 - 3 / (4 * (na + nb) - 9)
    return j * (sum(a) / na - sum(b) / nb) / sd


def diff_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple | None:
    """(low, high) of the Welch confidence interval of mean a - mean b; None as for Welch."""
    from scipy.special import stdtrit

    if len(a) < 2 or len(b) < 2:
        return None
    na, ma, va = _moments(a)
    nb, mb, vb = _moments(b)
    sa, sb = va / na, vb / nb
    se2 = sa + sb
    if se2 == 0:
        return None
    df = se2**2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
    half = float(stdtrit(df, 0.5 + level / 2)) * math.sqrt(se2)
    return ma - mb - half, ma - mb + half


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input's order (None stays None, and does not
    count as a test)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def _power(d: float, n1: int, n2: int, alpha: float) -> float:
    """Power of the two-sided pooled two-sample t-test at standardized difference d."""
    from scipy.special import nctdtr, stdtrit

    df = n1 + n2 - 2
    crit = float(stdtrit(df, 1 - alpha / 2))
    nc = d * math.sqrt(n1 * n2 / (n1 + n2))
    return float(1 - nctdtr(df, nc, crit) + nctdtr(df, nc, -crit))


def detectable_effect(n1: int, n2: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest standardized difference (Cohen's d) the test detects with `power`."""
    lo, hi = 0.0, 1.0
    while _power(hi, n1, n2, alpha) < power:
        hi *= 2
    for _ in range(60):  # bisection: power rises with d
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _power(mid, n1, n2, alpha) < power else (lo, mid)
    return hi


def detectable_difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The smallest difference of means (in the values' units) these n and this noise could
    have detected with 80% power at alpha 0.05; None without spread or n < 2."""
    sd = pooled_sd(a, b)
    if not sd:
        return None
    return detectable_effect(len(a), len(b)) * sd


def verdict(diff: float | None, p_holm: float | None) -> str | None:
    """better / worse / no detectable difference, at ALPHA after Holm; None when untested."""
    if p_holm is None or diff is None:
        return None
    if p_holm < ALPHA:
        return "better" if diff > 0 else "worse"
    return "no detectable difference"
