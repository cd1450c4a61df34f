"""Chi-square test of the category frequencies of a sliding window against a reference."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    Detector,
    as_ts_array,
    check_state_version,
    restored_last_statistic,
)
from driftline.detectors.calibration import WindowedTests
from driftline.detectors.levels import as_category_array, factorize_categories
from driftline.detectors.window import CHUNK_WINDOWS, MIN_SIZE, WARNING_REARM_EXPONENT, set_window_params, ts_or_none

#: how many unseen level names :attr:`Chi2Categorical.unseen_levels` remembers
MAX_UNSEEN_LEVELS = 20
#: relative slack of the pre-filter on the statistic (the decision is made on the p-value)
_STAT_SLACK = 1e-9


def chi2_statistic(table: np.ndarray) -> tuple[float, int]:
    """Pearson's chi-square statistic of a 2 x K table, columns with zero total dropped.

    Returns the statistic and its degrees of freedom ``K' - 1`` (0 when fewer than two
    columns remain; the statistic is then 0).
    """
    table = table[:, table.sum(axis=0) > 0].astype(np.float64)
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    return float(np.sum((table - expected) ** 2 / expected)), dof


class Chi2Categorical(Detector):
    """Chi-square test of homogeneity of a sliding window's categories against a reference.

    The statistic is Pearson's ``X^2 = sum (O - E)^2 / E`` of the 2 x K contingency table
    ``[reference counts; window counts]`` (columns with zero total dropped), with p-value
    ``chi2.sf(X^2, K - 1)`` (Pearson, 1900). The columns are the reference's levels; levels
    whose expected count in a window (``share in the reference * window``) is below
    ``min_expected`` are pooled into one ``"(rare)"`` column (which joins the least frequent
    other level's column when the pool itself is expected fewer than ``min_expected`` times),
    and levels never seen in the reference go to an ``"(unseen)"`` column (their names:
    :attr:`unseen_levels`).

    The asymptotic chi-square p-value is optimistic at strict levels when a column is expected
    only a few times per window: the count of a rare column has a heavier upper tail than the
    normal approximation (on a 10-level stream whose smallest columns are expected 5 and 15
    times per window, the share of windows exceeding the level is 1.2, 1.4 and 1.8 times the
    level at 1e-3, 1e-4 and 1e-5).

    Reference, window, test schedule (a test after the value with count ``c`` since the
    reference was completed, when ``c >= window`` and ``c % stride == 0``), drift and
    warning rules are those of :class:`~driftline.detectors.numeric.ks.KSWindow`, and so is the
    false-alarm budget, which counts one alarm per cluster of exceedances of the overlapping
    windows (see ``calibration.alpha_per_test``). ``None`` (and NaN) values are missing and
    skipped.

    Parameters
    ----------
    reference_size, window, stride, alpha_drift, alpha_warning
        As for :class:`~driftline.detectors.numeric.ks.KSWindow`.
    min_expected
        Levels expected fewer times than this in a window are pooled into ``"(rare)"``. The
        default 10 (rather than Cochran's classic 5) keeps the chi-square approximation's
        upper tail honest at the strict levels a stream-wide budget gives: with 5, columns
        expected 5 to 15 times made tests fire 1.2 to 1.8 times as often as their level.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> before = rng.choice(["a", "b", "c"], size=15_000, p=[0.5, 0.3, 0.2])
    >>> after = rng.choice(["a", "b", "c"], size=5_000, p=[0.4, 0.3, 0.3])
    >>> det = Chi2Categorical()
    >>> [(d.index, d.severity) for d in det.update(np.concatenate([before, after]))]
    [(15899, 'warning'), (15999, 'drift')]

    References
    ----------
    K. Pearson (1900). On the criterion that a given system of deviations from the probable
    in the case of a correlated system of variables is such that it can be reasonably supposed
    to have arisen from random sampling. Philosophical Magazine 50(302), 157-175.
    """

    input_type = "categorical"
    method = "chi2"

    def __init__(
        self,
        reference_size: int = 10_000,
        window: int = 1_000,
        stride: int = 100,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        min_expected: float = 10.0,
    ) -> None:
        if not isinstance(min_expected, (int, float)) or not min_expected > 0:
            raise ValueError(f"Chi2Categorical: min_expected must be > 0, got {min_expected!r}")
        set_window_params(self, reference_size, window, stride, alpha_drift, alpha_warning)
        self.min_expected = float(min_expected)
        self._reset()

    @property
    def tests_per_value(self) -> float:
        """``1 / stride`` overlapping windows (see :class:`~driftline.detectors.calibration.WindowedTests`)."""
        return WindowedTests(self.window, self.stride)

    @property
    def unseen_levels(self) -> list[str]:
        """Up to the 20 most recent levels not in the reference seen since it was completed."""
        return sorted(self._unseen)

    # ----------------------------------------------------------------- state
    def _reset(self) -> None:
        self._ref_level_counts: dict[str, int] = {}  # the reference (being) collected
        self._ref_n = 0
        self._ready = False  # reference complete: monitoring
        self._bucket_of: dict[str, int] = {}  # level -> column; others go to the unseen column
        self._ref_counts = np.zeros(0, dtype=np.int64)  # per column (rare, unseen last)
        self._crit = np.zeros(0)  # lowest critical statistic per dof
        self._win = np.empty(0, dtype=np.int64)  # columns of the last min(count, window) values
        self._win_ts = np.empty(0, dtype=np.int64)
        self._count = 0
        self._warned = False
        self._unseen: OrderedDict[str, None] = OrderedDict()

    def _start_monitoring(self) -> None:
        counts = self._ref_level_counts
        min_count = self.min_expected * self._ref_n / self.window  # share * window >= min_expected
        common = sorted(level for level, k in counts.items() if k >= min_count)
        self._bucket_of = {level: i for i, level in enumerate(common)}
        rare, unseen = len(common), len(common) + 1
        if common and 0 < sum(k for k in counts.values() if k < min_count) < min_count:
            # the pooled rare levels are themselves rare: they join the least frequent
            # common level, so that no column is expected fewer than min_expected times
            rare = self._bucket_of[min(common, key=lambda level: (counts[level], level))]
        ref_counts = np.zeros(len(common) + 2, dtype=np.int64)
        for level, k in counts.items():
            col = self._bucket_of.setdefault(level, rare)
            ref_counts[col] += k
        self._ref_counts = ref_counts
        self._unseen_col = unseen
        # a warning re-arms when p >= this: every test with a smaller p is judged on its p-value
        rearm = self.alpha_drift if self.alpha_warning is None else self.alpha_warning**WARNING_REARM_EXPONENT
        dofs = np.arange(ref_counts.shape[0])
        safe = np.maximum(dofs, 1)
        from scipy.stats import chi2

        self._drift_crit = np.where(dofs > 0, chi2.isf(self.alpha_drift, safe), np.inf)
        self._crit = np.where(dofs > 0, chi2.isf(rearm, safe), np.inf) * (1.0 - _STAT_SLACK)
        self._ready = True
        self._win = np.empty(0, dtype=np.int64)
        self._win_ts = np.empty(0, dtype=np.int64)
        self._count = 0
        self._warned = False
        self._unseen.clear()

    def fit_reference(self, values: Any) -> None:
        """Use ``values`` (e.g. training data) as the reference and start monitoring now."""
        levels, _, _ = as_category_array(values)
        if levels.shape[0] < MIN_SIZE:
            raise ValueError(
                f"Chi2Categorical.fit_reference: needs at least {MIN_SIZE} non-missing values, "
                f"got {levels.shape[0]}"
            )
        uniq, counts = np.unique(levels, return_counts=True)
        self._reset()
        self._ref_level_counts = {str(u): int(k) for u, k in zip(uniq, counts)}
        self._ref_n = int(levels.shape[0])
        self._start_monitoring()

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "reference_counts": dict(sorted(self._ref_level_counts.items())),
            "reference_n": self._ref_n,
            "ready": self._ready,
            "window": self._win.tolist(),
            "window_ts": self._win_ts.tolist(),
            "count": self._count,
            "warned": self._warned,
            "unseen": list(self._unseen),
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._ref_level_counts = {str(k): int(v) for k, v in state["reference_counts"].items()}
        self._ref_n = int(state["reference_n"])
        if state["ready"]:
            self._start_monitoring()
        self._win = np.asarray(state["window"], dtype=np.int64)
        self._win_ts = np.asarray(state["window_ts"], dtype=np.int64)
        self._count = int(state["count"])
        self._warned = bool(state["warned"])
        self._unseen = OrderedDict.fromkeys(state["unseen"])
        self._last_statistic = restored_last_statistic(state)

    # ---------------------------------------------------------------- update
    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        uniq, all_codes, n = factorize_categories(values)  # encode once per batch
        keep = np.flatnonzero(all_codes >= 0)
        codes = all_codes[keep]
        ts_arr = as_ts_array(ts, n)[keep]
        detections: list[Detection] = []
        pos = 0
        while pos < codes.shape[0]:
            if not self._ready:
                pos = self._collect_reference(uniq, codes, pos)
            else:
                pos = self._monitor(uniq, codes, ts_arr, keep, pos, detections)
        return detections

    def _collect_reference(self, uniq: np.ndarray, codes: np.ndarray, pos: int) -> int:
        take = min(self.reference_size - self._ref_n, codes.shape[0] - pos)
        counts = np.bincount(codes[pos : pos + take], minlength=uniq.shape[0])
        for i in np.flatnonzero(counts):
            level = str(uniq[i])
            self._ref_level_counts[level] = self._ref_level_counts.get(level, 0) + int(counts[i])
        self._ref_n += take
        if self._ref_n == self.reference_size:
            self._start_monitoring()
        return pos + take

    def _note_unseen(self, uniq: np.ndarray, codes: np.ndarray, is_unseen: np.ndarray) -> None:
        """Remember unseen levels in ``codes`` (codes into ``uniq``) by last occurrence."""
        hits = is_unseen[codes]
        if not hits.any():
            return
        rev = codes[hits][::-1]
        seen_codes, first_in_rev = np.unique(rev, return_index=True)
        for code in seen_codes[np.argsort(-first_in_rev)]:  # oldest last occurrence first
            level = str(uniq[code])
            self._unseen.pop(level, None)
            self._unseen[level] = None
        while len(self._unseen) > MAX_UNSEEN_LEVELS:
            self._unseen.popitem(last=False)

    def _statistics(self, combined: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`chi2_statistic` and its degrees of freedom for every window ending at ``stops``."""
        n_cols, m = self._ref_counts.shape[0], self.window
        if stops.size == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        rows = sliding_window_view(combined, m)[stops - m]
        flat = (rows + n_cols * np.arange(rows.shape[0])[:, None]).ravel()
        cur = np.bincount(flat, minlength=rows.shape[0] * n_cols).reshape(rows.shape[0], n_cols)
        ref = np.broadcast_to(self._ref_counts, cur.shape)
        total = ref + cur
        valid = total > 0
        big_n = float(self._ref_counts.sum() + m)
        with np.errstate(divide="ignore", invalid="ignore"):
            e_ref = self._ref_counts.sum() * total / big_n
            e_cur = m * total / big_n
            terms = np.where(valid, (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur, 0.0)
        dofs = valid.sum(axis=1) - 1
        return np.where(dofs > 0, terms.sum(axis=1), 0.0), np.maximum(dofs, 0)

    def _monitor(self, uniq, codes, tss, keep, pos, detections) -> int:
        """Feed ``codes[pos:]`` to the window; return where to continue (past a drift: renew)."""
        col_of = np.array([self._bucket_of.get(str(u), self._unseen_col) for u in uniq], np.int64)
        c0 = self._count
        end = pos + CHUNK_WINDOWS * self.window  # bounded work per step: a drift stops early
        new = codes[pos:end]
        combined = np.concatenate([self._win, col_of[new]])
        combined_ts = np.concatenate([self._win_ts, tss[pos:end]])
        offset = self._win.shape[0] - c0  # combined[offset + c - 1] holds the value of count c
        c_end = c0 + new.shape[0]
        first = max(self.window, c0 + 1)
        first = -(-first // self.stride) * self.stride  # smallest test count past c0
        counts = np.arange(first, c_end + 1, self.stride)
        stats, dofs = self._statistics(combined, offset + counts)
        if stats.size and np.all(stats < self._crit[dofs]):  # nothing can fire (see below)
            self._warned = False
            last = np.flatnonzero(dofs > 0)
            if last.size:
                self._last_statistic = (float(stats[last[-1]]), float(self._drift_crit[dofs[last[-1]]]))
            counts = counts[:0]
        for c, stat, dof in zip(counts.tolist(), stats.tolist(), dofs.tolist()):
            stop = offset + c
            if dof > 0:
                self._last_statistic = (stat, float(self._drift_crit[dof]))
            if stat < self._crit[dof]:
                self._warned = False
                continue
            from scipy.stats import chi2

            p = float(chi2.sf(stat, dof))
            if p < self.alpha_drift:
                severity, level = "drift", self.alpha_drift
            elif self.alpha_warning is not None and p < self.alpha_warning:
                if self._warned:
                    continue
                severity, level = "warning", self.alpha_warning
                self._warned = True
            else:
                if self.alpha_warning is None or p >= self.alpha_warning**WARNING_REARM_EXPONENT:
                    self._warned = False
                continue
            self._note_unseen(uniq, new[: c - c0], col_of == self._unseen_col)  # as they stand at the firing
            detections.append(
                Detection(
                    index=int(keep[pos + c - c0 - 1]),
                    severity=severity,
                    statistic=stat,
                    p_value=p,
                    threshold=level,
                    reference_n=self._ref_n,
                    current_n=self.window,
                    start_ts=ts_or_none(combined_ts[stop - self.window]),
                    end_ts=ts_or_none(combined_ts[stop - 1]),
                    details={"unseen_levels": self.unseen_levels} if self._unseen else None,
                )
            )
            if severity == "drift":
                unseen = self._unseen
                self._reset()  # renew the reference from the next values
                self._unseen = unseen  # still describes the drift until the new reference
                return pos + c - c0
        self._note_unseen(uniq, new, col_of == self._unseen_col)
        self._count = c_end
        self._win = combined[-self.window :].copy()
        self._win_ts = combined_ts[-self.window :].copy()
        return pos + new.shape[0]
