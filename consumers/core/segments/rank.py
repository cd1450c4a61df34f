"""Where the errors rose: the statistics behind ``details.segment_ranking`` and
``details.feature_ranking`` (pure NumPy and SciPy, no state).

* A segment's rise is its error rate after (the learned events since the stream detector's
  excursion began) minus before (the stream's reference); its p-value is the one-sided Fisher
  exact test of 0/1 errors (Fisher, 1935: the hypergeometric tail given both margins, valid at
  every sample size), or Welch's t-test of the mean absolute error for a regression.
* A feature's share of the change is the *shift term* of the two-fold Oaxaca-Blinder
  decomposition of the mean error over the feature's bins (Oaxaca, 1973; Blinder, 1973),
  with Shapley's symmetric weights: ``sum_b (p_after(b) - p_ref(b)) * (e_ref(b) + e_after(b)) / 2``,
  where ``p`` is the share of events in bin ``b`` and ``e`` the mean error there. It is the
  change of the error rate that the change of this feature's distribution alone explains,
  the error rate within each bin held as it was; the rest of the change (the errors within
  bins rising: a change of concept) is left out. The bins are the reference's quantiles
  (numeric features) or its levels (categorical), missing values a bin of their own. Why this
  method: it needs one pass of counts per feature (no model refitted, no resampling), it is
  exact for a shift of one feature whose errors depend on it through the binned value, and a
  feature that did not move scores about 0 whatever the errors did; the cost is that
  interactions between features are credited to each feature that moved.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: the levels of a categorical feature given a bin of their own (the rest share one)
MAX_LEVELS = 50


def numeric_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The inner cut points of ``bins`` quantile bins of the finite ``values`` (unique)."""
    finite = values[np.isfinite(values)]
    if not finite.shape[0]:
        return np.empty(0)
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def numeric_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin: 0..len(edges) by the cut points, len(edges) + 1 for a missing one."""
    out = np.searchsorted(edges, values, side="right")
    out[~np.isfinite(values)] = edges.shape[0] + 1
    return out.astype(np.int64)


def level_codes(values: list[Any], levels: dict[str, int]) -> np.ndarray:
    """Each categorical value's bin: its level's, ``len(levels)`` for the others, + 1 missing."""
    n = len(levels)
    return np.array([n + 1 if v is None else levels.get(str(v), n) for v in values], dtype=np.int64)


def top_levels(values: list[Any], k: int = MAX_LEVELS) -> dict[str, int]:
    """The ``k`` most frequent levels (ties by name), numbered."""
    counts: dict[str, int] = {}
    for v in values:
        if v is not None:
            counts[str(v)] = counts.get(str(v), 0) + 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))[:k]
    return {name: i for i, name in enumerate(ranked)}


def bin_sums(codes: np.ndarray, errors: np.ndarray, size: int) -> np.ndarray:
    """Per bin: (events, sum of errors, sum of squared errors), shape (size, 3)."""
    return np.stack([np.bincount(codes, minlength=size), np.bincount(codes, errors, minlength=size),
                     np.bincount(codes, errors * errors, minlength=size)], axis=1).astype(float)[:size]


def shift_term(reference: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(the error change the feature's shift explains, the shift's total variation distance)
    from per-bin sums (:func:`bin_sums`) of the reference and of the events after."""
    n_ref, n_after = reference[:, 0].sum(), after[:, 0].sum()
    if n_ref <= 0 or n_after <= 0:
        return 0.0, 0.0
    p_ref, p_after = reference[:, 0] / n_ref, after[:, 0] / n_after
    with np.errstate(invalid="ignore", divide="ignore"):
        e_ref = reference[:, 1] / reference[:, 0]
        e_after = after[:, 1] / after[:, 0]
    e_ref = np.where(np.isfinite(e_ref), e_ref, e_after)  # a bin empty on one side: the other's rate
    e_after = np.where(np.isfinite(e_after), e_after, e_ref)
    weights = np.nan_to_num((e_ref + e_after) / 2.0)
    return float(((p_after - p_ref) * weights).sum()), float(0.5 * np.abs(p_after - p_ref).sum())


def rise_p_value(before: tuple[float, float, float], after: tuple[float, float, float], binary: bool) -> float:
    """One-sided p-value of the mean error being higher after than before, from (events, sum,
    sum of squares): Fisher's exact test (0/1 errors) or Welch's t-test (absolute errors)."""
    n_b, s_b, q_b = before
    n_a, s_a, q_a = after
    if n_b < 1 or n_a < 1:
        return 1.0
    if binary:
        from scipy.stats import hypergeom

        k_a, k = round(s_a), round(s_a + s_b)
        return float(min(1.0, hypergeom.sf(k_a - 1, int(n_a + n_b), k, int(n_a))))
    if n_b < 2 or n_a < 2:
        return 1.0
    m_b, m_a = s_b / n_b, s_a / n_a
    v_b = max(q_b / n_b - m_b * m_b, 0.0) * n_b / (n_b - 1) / n_b
    v_a = max(q_a / n_a - m_a * m_a, 0.0) * n_a / (n_a - 1) / n_a
    se = math.sqrt(v_a + v_b)
    if se == 0.0:
        return 0.0 if m_a > m_b else 1.0
    dof = (v_a + v_b) ** 2 / (v_a * v_a / (n_a - 1) + v_b * v_b / (n_b - 1) or 1e-300)
    from scipy.stats import t as student_t

    return float(student_t.sf((m_a - m_b) / se, dof))


def _rounded(value: float) -> float:
    return round(float(value), 6)


def segment_entry(segment: dict[str, str], before: np.ndarray, after: np.ndarray, binary: bool) -> dict[str, Any]:
    """One row of ``segment_ranking``: counts and error rates before and after, rise, p-value."""
    (n_b, s_b, _), (n_a, s_a, _) = before, after
    rate_b, rate_a = s_b / n_b, s_a / n_a
    label = "error_rate" if binary else "mean_error"
    return {"segment": segment,
            "before": {"events": int(n_b), "errors": _rounded(s_b), label: _rounded(rate_b)},
            "after": {"events": int(n_a), "errors": _rounded(s_a), label: _rounded(rate_a)},
            "rise": _rounded(rate_a - rate_b),
            "p_value": float(rise_p_value(tuple(before), tuple(after), binary))}
