"""What a difference against the baseline means: its CI, effect size, Holm-adjusted p, and one
of four outcomes against a margin, the smallest difference that matters.

Per group against its baseline group (final test accuracy over seeds):

- the difference of means and its 95% confidence interval: *paired* (a t on the per-seed
  differences, n - 1 df) when both groups ran the same seeds, whose runs share data order and
  init seed; else Welch's (unequal variances, Welch-Satterthwaite df);
- Hedges' g: the difference over the pooled standard deviation, with the small-sample
  correction J = 1 - 3 / (4 (n1 + n2) - 9) (Hedges 1981);
- the t-test's p (is there a difference?) and the TOST p (Schuirmann 1987: is the difference
  inside +-margin? the larger of the two one-sided p-values against -margin and +margin), each
  Holm-adjusted across every group compared with the baseline (Holm 1979: with p sorted
  ascending, p_(i) * (m - i + 1), made monotone, capped at 1);
- the outcome at alpha = 0.05 after Holm: `equivalent` when the TOST p says the difference lies
  inside +-margin, else `better` / `worse` when the t-test says it is not 0, else `not
  determined` (the seeds cannot tell either); a difference smaller than the margin that is
  nonetheless not 0 is `equivalent`: too small to matter, by the margin's definition;
- the smallest difference these seeds detect with 80% power, at the level Holm's first step
  uses (alpha / m), the sample standard deviations taken as the true ones: paired, the
  noncentral t (exact); Welch, integrated over the sample variances (`welch_power`).

Where there is no spread (every seed the same, or every pair the same distance apart), no test
is made: it says nothing about the noise. scipy.special only (scipy.stats costs half a second to
import). Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

ALPHA = 0.05
POWER = 0.8
MARGIN = 0.005  # compare's default margin: half a point of accuracy (fractions here)


def _moments(a: Sequence[float]) -> tuple[int, float, float]:
    n = len(a)
    m = sum(a) / n
    return n, m, sum((x - m) ** 2 for x in a) / (n - 1)


def no_spread(values: Sequence[float]) -> bool:
    """Whether the values are alike but for rounding (a spread below 1e-6 of their size, at
    least 1e-6: the run folder keeps 6 significant digits, so two equal differences of its
    numbers can differ in the 7th): then no test can be made, it would say nothing about the
    noise."""
    _, m, v = _moments(values)
    return v <= (1e-6 * max(1.0, abs(m), *map(abs, values))) ** 2


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


Parts = tuple[float, float, float]  # a difference, its standard error, its t distribution's df


def welch(a: Sequence[float], b: Sequence[float]) -> Parts | None:
    """(mean a - mean b, its standard error, Welch-Satterthwaite df); None with fewer than two
    values a side or no spread on either side."""
    if len(a) < 2 or len(b) < 2:
        return None
    if no_spread(a) and no_spread(b):
        return None
    na, ma, va = _moments(a)
    nb, mb, vb = _moments(b)
    sa, sb = va / na, vb / nb
    se2 = sa + sb
    df = se2**2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
    return ma - mb, math.sqrt(se2), df


def paired(a: Sequence[float], b: Sequence[float]) -> Parts | None:
    """(mean of a_i - b_i, its standard error, n - 1) over pairs (a_i, b_i); None with fewer
    than two pairs, or when every pair differs by the same amount (no spread: no test)."""
    return one_sample([x - y for x, y in zip(a, b, strict=True)])


def one_sample(values: Sequence[float]) -> Parts | None:
    """(mean, its standard error, n - 1); None with fewer than two values or no spread."""
    if len(values) < 2 or no_spread(values):
        return None
    n, m, v = _moments(values)
    return m, math.sqrt(v / n), n - 1


def sides(parts: Parts, at: float) -> tuple[float, float]:
    """The one-sided p-values of a value against `at`: (H0 value <= at, H0 value >= at), the
    first small when the value lies above `at`, the second when below."""
    from scipy.special import stdtr

    value, se, df = parts
    t = (value - at) / se
    return float(stdtr(df, -t)), float(stdtr(df, t))  # each tail directly: no 1 - p rounding


def p_value(parts: Parts | None) -> float | None:
    """Two-sided p of the difference against 0."""
    from scipy.special import stdtr

    if parts is None:
        return None
    diff, se, df = parts
    return float(min(1.0, 2 * stdtr(df, -abs(diff / se))))


def interval(parts: Parts | None, level: float = 0.95) -> tuple[float, float] | None:
    """(low, high) of the difference's confidence interval."""
    from scipy.special import stdtrit

    if parts is None:
        return None
    diff, se, df = parts
    half = float(stdtrit(df, 0.5 + level / 2)) * se
    return diff - half, diff + half


def tost(parts: Parts | None, margin: float) -> float | None:
    """The TOST p that the difference lies inside (-margin, +margin): the larger of the two
    one-sided p-values against -margin and +margin; None without a test or a margin."""
    from scipy.special import stdtr

    if parts is None or not margin > 0:
        return None
    diff, se, df = parts
    above_low = 1 - float(stdtr(df, (diff + margin) / se))  # H0: diff <= -margin
    below_high = float(stdtr(df, (diff - margin) / se))  # H0: diff >= +margin
    return max(above_low, below_high)


def diff_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple | None:
    """(low, high) of the Welch confidence interval of mean a - mean b; None as for Welch."""
    return interval(welch(a, b), level)


def tost_p(a: Sequence[float], b: Sequence[float], margin: float) -> float | None:
    """The Welch TOST p (statsmodels' ttost_ind with usevar="unequal"); None as for Welch."""
    return tost(welch(a, b), margin)


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


def welch_power(
    sd: tuple[float, float], n: tuple[int, int], alpha: float, grid: int = 160
) -> Callable[[float], float]:
    """The power function delta -> power of the two-sided Welch test at level `alpha`, for two
    normal groups of standard deviations `sd` and sizes `n` and a true difference delta. Exact
    up to the quadrature: given the two sample variances, the test rejects when |mean
    difference| > t_crit(df) x se, a normal tail; that is averaged over the two variances'
    scaled chi-square laws (midpoint quantiles, `grid` per side). With three seeds the
    estimated df decides much of the power, which is why the noncentral t with a fixed df
    overstates it."""
    import numpy as np
    from scipy.special import chdtri, ndtr, stdtrit

    q = 1 - (np.arange(grid) + 0.5) / grid  # chdtri takes the upper tail
    (s1, s2), (n1, n2) = sd, n
    v1 = s1**2 * chdtri(n1 - 1, q) / (n1 - 1) / n1  # sample variance of each mean
    v2 = s2**2 * chdtri(n2 - 1, q) / (n2 - 1) / n2
    a, b = np.meshgrid(v1, v2)
    df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    reach = (stdtrit(df, 1 - alpha / 2) * np.sqrt(a + b)).ravel()  # |difference| that rejects
    sigma = math.sqrt(s1**2 / n1 + s2**2 / n2)  # the true sd of the mean difference

    def power(delta: float) -> float:
        return float(np.mean(ndtr((delta - reach) / sigma) + ndtr((-delta - reach) / sigma)))

    return power


def paired_power(sd: float, n: int, alpha: float) -> Callable[[float], float]:
    """The power function delta -> power of the two-sided paired t-test at level `alpha`, for
    n pairs whose differences have standard deviation `sd`: the noncentral t, exact for normal
    differences (statsmodels' TTestPower)."""
    from scipy.special import nctdtr, stdtrit

    df, se = n - 1, sd / math.sqrt(n)
    crit = float(stdtrit(df, 1 - alpha / 2))
    return lambda delta: float(1 - nctdtr(df, delta / se, crit) + nctdtr(df, delta / se, -crit))


def detectable_difference(
    a: Sequence[float],
    b: Sequence[float],
    tests: int = 1,
    power: float = POWER,
    pairs: bool = False,
) -> float | None:
    """The smallest difference of means (in the values' units) these n and this noise detect
    with `power`, at Holm's first-step level ALPHA / `tests`, taking the sample standard
    deviations as the true ones: by Welch's test, or with `pairs` (a_i with b_i) by the paired
    t-test; None as for those tests."""
    parts = paired(a, b) if pairs else welch(a, b)
    if parts is None:
        return None
    alpha = ALPHA / max(1, tests)
    if pairs:
        at = paired_power(parts[1] * math.sqrt(len(a)), len(a), alpha)
    else:
        na, _, va = _moments(a)
        nb, _, vb = _moments(b)
        at = welch_power((math.sqrt(va), math.sqrt(vb)), (na, nb), alpha)
    lo, hi = 0.0, parts[1]
    while at(hi) < power:
        hi *= 2
    for _ in range(40):  # bisection: power rises with the difference
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid) < power else (lo, mid)
    return hi


def outcome(diff: float | None, p_holm: float | None, p_tost_holm: float | None) -> str | None:
    """equivalent / better / worse / not determined at ALPHA after Holm (see the module's
    doc); None when untested (no baseline, or no spread on either side)."""
    if diff is None or (p_holm is None and p_tost_holm is None):
        return None
    if p_tost_holm is not None and p_tost_holm < ALPHA:
        return "equivalent"
    if p_holm is not None and p_holm < ALPHA:
        return "better" if diff > 0 else "worse"
    return "not determined"
