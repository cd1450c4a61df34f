"""Data-quality detectors: missing values rising, values outside the reference range, new levels."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    Detector,
    as_float_array,
    as_ts_array,
    check_state_version,
    hysteresis_fires,
    restored_last_statistic,
)
from driftline.detectors.levels import factorize_categories
from driftline.detectors.window import CHUNK_WINDOWS, MIN_SIZE, WARNING_REARM_EXPONENT, set_window_params, ts_or_none

#: p-values of strange counts remembered per reference, at most
_P_CACHE_SIZE = 4096
OK, MISSING, STRANGE = 0, 1, 2  # per-value codes: fine, missing, out of range / unseen level


class _QualityWindow(Detector):
    """Shared machinery: a window of per-value codes tested against reference rates.

    Every event counts (missing ones too). With ``c`` events since the reference was
    completed, two one-sided tests run whenever ``c >= window`` and ``c % stride == 0``:

    * missing rate: Fisher's exact test, ``k`` missing of ``window`` against ``K`` of ``n`` in
      the reference, p-value ``hypergeom.sf(k - 1, n + window, K + k, window)``;
    * the strange-value rate (see the subclass), on the window's non-missing values.

    The smaller p-value is judged (each test has level ``alpha``: ``tests_per_value`` is
    ``2 / stride``): ``drift`` below ``alpha_drift``, after which the next ``reference_size``
    events form a new reference; ``warning`` below ``alpha_warning``, re-armed once both
    p-values are at least ``alpha_warning ** 0.5``. :attr:`last_check` names the test.
    ``Detection.statistic`` is the tested rate in the window; ``last_statistic`` is
    ``(-log10 p, -log10 alpha_drift)``.
    """

    def __init__(
        self,
        reference_size: int = 10_000,
        window: int = 1_000,
        stride: int = 100,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
    ) -> None:
        set_window_params(self, reference_size, window, stride, alpha_drift, alpha_warning)
        self._reset()

    @property
    def tests_per_value(self) -> float:
        return 2.0 / self.stride

    @property
    def last_check(self) -> str | None:
        """Which test the last detection came from: ``missing_rate`` or the subclass's."""
        return self._last_check

    # ------------------------------------------------------------ subclass
    @abstractmethod
    def _prepare(self, values: Any) -> tuple[np.ndarray, Any]:
        """(missing mask, the batch in the subclass's working form), computed once per batch."""

    @abstractmethod
    def _present(self, batch: Any, start: int, stop: int) -> list[Any]:
        """The non-missing values of ``batch[start:stop]``, in order, as Python floats or strings."""

    @abstractmethod
    def _fit(self, present: np.ndarray) -> None:
        """Learn the reference from its non-missing values."""

    @abstractmethod
    def _strange(self, batch: Any, start: int, stop: int) -> np.ndarray:
        """Mask over ``batch[start:stop]`` of the non-missing values strange against the reference."""

    @abstractmethod
    def _strange_p(self, k: np.ndarray, m: np.ndarray) -> np.ndarray:
        """P-values of ``k`` strange values among ``m`` non-missing ones."""

    @abstractmethod
    def _ref_state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load_ref_state(self, state: dict[str, Any]) -> None: ...

    # ----------------------------------------------------------------- state
    def _reset(self) -> None:
        self._ref_values: list[Any] = []  # non-missing reference values while collecting
        self._ref_events = 0
        self._ref_missing = 0
        self._ready = False
        self._codes = np.empty(0, dtype=np.int8)
        self._codes_ts = np.empty(0, dtype=np.int64)
        self._count = 0
        self._armed = True
        self._last_check: str | None = getattr(self, "_last_check", None)
        self._p_str_cache: dict[tuple[int, int], float] = {}  # the reference's p-values

    def _start(self) -> None:
        self._fit(np.asarray(self._ref_values))
        self._ref_values = []
        self._ready = True

    def _strange_p_cached(self, k: np.ndarray, m: np.ndarray) -> np.ndarray:
        """:meth:`_strange_p`, each ``(k, m)`` computed once per reference (a bounded cache)."""
        cache = self._p_str_cache
        pairs = list(zip(k.tolist(), m.tolist()))
        todo = sorted(set(pairs) - cache.keys())
        if todo:
            ks, ms = (np.array(col) for col in zip(*todo))
            cache.update(zip(todo, self._strange_p(ks, ms).tolist()))
        out = np.array([cache[pair] for pair in pairs])
        if len(cache) > _P_CACHE_SIZE:
            cache.clear()
        return out

    def _missing_p(self, k: np.ndarray) -> np.ndarray:
        """P-values of ``k`` missing values in a window (Fisher), each ``k`` computed once."""
        if not k.any():  # no window misses a value: p = 1 (the table's first entry)
            return np.ones(k.shape[0])
        key = (self._ref_events, self._ref_missing)
        if getattr(self, "_p_miss_key", None) != key:
            self._p_miss_table = np.full(self.window + 1, np.nan)
            self._p_miss_table[0] = 1.0
            self._p_miss_key = key
        table = self._p_miss_table
        p = table[k]
        unknown = np.isnan(p)
        if unknown.any():
            todo = np.unique(k[unknown])
            n, big_k = key
            from scipy.stats import hypergeom

            table[todo] = hypergeom.sf(todo - 1, n + self.window, big_k + todo, self.window)
            p = table[k]
        return p

    def fit_reference(self, values: Any) -> None:
        """Use ``values`` (e.g. training data, missing values included) as the reference."""
        missing, batch = self._prepare(values)
        if missing.shape[0] < MIN_SIZE:
            raise ValueError(f"{type(self).__name__}.fit_reference: needs at least {MIN_SIZE} values")
        self._reset()
        self._ref_events, self._ref_missing = int(missing.shape[0]), int(missing.sum())
        self._ref_values = self._present(batch, 0, missing.shape[0])
        self._start()

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "reference_values": [v if isinstance(v, str) else float(v) for v in self._ref_values],
            "reference_events": self._ref_events,
            "reference_missing": self._ref_missing,
            "reference": self._ref_state() if self._ready else None,
            "codes": self._codes.tolist(),
            "codes_ts": self._codes_ts.tolist(),
            "count": self._count,
            "armed": self._armed,
            "last_check": self._last_check,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._ref_values = list(state["reference_values"])
        self._ref_events, self._ref_missing = int(state["reference_events"]), int(state["reference_missing"])
        if state["reference"] is not None:
            self._load_ref_state(state["reference"])
            self._ready = True
        self._codes = np.asarray(state["codes"], dtype=np.int8)
        self._codes_ts = np.asarray(state["codes_ts"], dtype=np.int64)
        self._count, self._armed = int(state["count"]), bool(state["armed"])
        self._last_check = state["last_check"]
        self._last_statistic = restored_last_statistic(state)

    # ---------------------------------------------------------------- update
    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        missing, batch = self._prepare(values)
        ts_arr = as_ts_array(ts, missing.shape[0])
        detections: list[Detection] = []
        pos = 0
        while pos < missing.shape[0]:
            if not self._ready:
                take = min(self.reference_size - self._ref_events, missing.shape[0] - pos)
                self._ref_values.extend(self._present(batch, pos, pos + take))
                self._ref_events += take
                self._ref_missing += int(np.count_nonzero(missing[pos : pos + take]))
                pos += take
                if self._ref_events == self.reference_size:
                    self._start()
            else:
                pos = self._monitor(missing, batch, ts_arr, pos, detections)
        return detections

    def _codes_of(self, missing: np.ndarray, batch: Any, start: int, stop: int) -> np.ndarray:
        """The per-value codes (OK, MISSING, STRANGE) of ``batch[start:stop]``."""
        codes = np.zeros(stop - start, dtype=np.int8)
        codes[missing[start:stop]] = MISSING
        codes[self._strange(batch, start, stop)] = STRANGE
        return codes

    def _monitor(self, missing: np.ndarray, batch: Any, ts_arr: np.ndarray, pos: int,
                 detections: list[Detection]) -> int:
        """Feed values ``pos:`` (at most ``CHUNK_WINDOWS`` windows); return where to continue
        (past a drift: the reference is renewed from there)."""
        end = min(missing.shape[0], pos + CHUNK_WINDOWS * self.window)
        codes = self._codes_of(missing, batch, pos, end)
        combined = np.concatenate([self._codes, codes])
        combined_ts = np.concatenate([self._codes_ts, ts_arr[pos:end]])
        c0, k = self._count, codes.shape[0]
        first = -(-max(self.window, c0 + 1) // self.stride) * self.stride
        tests = np.arange(first, c0 + k + 1, self.stride)
        if tests.size:
            stops = tests - c0 + self._codes.shape[0]  # combined[stop - window : stop] is tested
            k_miss, k_str = window_counts(combined, stops, self.window)
            p_miss = self._missing_p(k_miss)
            p_str = np.ones(k_str.shape[0])
            some = k_str > 0
            if some.any():  # the survival function is costly; nothing strange gives p = 1
                p_str[some] = self._strange_p_cached(k_str[some], self.window - k_miss[some])
            p = np.minimum(p_miss, p_str)
            drifts = np.flatnonzero(p < self.alpha_drift)
            n_t = int(drifts[0]) + 1 if drifts.size else tests.size
            warn_level = self.alpha_warning or 0.0
            high = (p[:n_t] < warn_level) & (p[:n_t] >= self.alpha_drift)
            low = p[:n_t] >= warn_level**WARNING_REARM_EXPONENT if warn_level else np.ones(n_t, bool)
            if high.any():
                fires, armed = hysteresis_fires(high, low, self._armed)
                fired = np.flatnonzero(fires).tolist()
            else:  # no warning: re-armed by any test at or above the re-arm level
                fired, armed = [], self._armed or bool(low.any())
            self._last_statistic = (float(-np.log10(max(p[n_t - 1], 1e-300))), float(-np.log10(self.alpha_drift)))

            def detection(t: int, severity: str) -> Detection:
                self._last_check = "missing_rate" if p_miss[t] <= p_str[t] else self.strange_check
                stop = int(stops[t])
                rate = (k_miss[t] if p_miss[t] <= p_str[t] else k_str[t]) / self.window
                return Detection(
                    index=pos + int(tests[t] - c0) - 1,
                    severity=severity,  # type: ignore[arg-type]
                    statistic=float(rate),
                    p_value=float(p[t]),
                    threshold=self.alpha_drift if severity == "drift" else warn_level,
                    reference_n=self._ref_events,
                    current_n=self.window,
                    start_ts=ts_or_none(int(combined_ts[stop - self.window])),
                    end_ts=ts_or_none(int(combined_ts[stop - 1])),
                    details={"check": self.last_check},
                )

            detections.extend(detection(t, "warning") for t in fired)
            if drifts.size:
                detections.append(detection(n_t - 1, "drift"))
                self._reset()  # renew the reference from the next events
                return pos + int(tests[n_t - 1] - c0)
            self._armed = armed
        self._count = c0 + k
        self._codes = combined[-self.window :].copy()
        self._codes_ts = combined_ts[-self.window :].copy()
        return end


def window_counts(codes: np.ndarray, stops: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(#MISSING, #STRANGE)`` in ``codes[stop - window : stop]`` for every ``stop``.

    Counted from the positions of the flagged codes (usually few), not by a pass over each
    window: exact integer counts, whatever the codes.

    >>> window_counts(np.array([0, 1, 2, 0, 1, 0], np.int8), np.array([3, 5, 6]), 3)
    (array([1, 1, 1]), array([1, 1, 0]))
    """
    flagged = np.flatnonzero(codes != OK)  # several times faster than on the int8 codes themselves
    if flagged.size == 0:
        return np.zeros(stops.shape[0], np.int64), np.zeros(stops.shape[0], np.int64)
    is_missing = codes[flagged] == MISSING
    starts = stops - window
    out = []
    for positions in (flagged[is_missing], flagged[~is_missing]):
        out.append(np.searchsorted(positions, stops) - np.searchsorted(positions, starts))
    return out[0], out[1]


class QualityNumeric(_QualityWindow):
    """Missing values rising, and values outside the range ``[min, max]`` of the reference.

    Out of range: of ``m`` non-missing window values, ``k`` lie outside the reference's
    range. For exchangeable continuous values, the share of the distribution outside the range
    of ``n`` reference values is Beta(2, n - 1) (two spacings of ``n`` uniform order
    statistics), so ``k`` is beta-binomial(m, 2, n - 1) and the p-value is its survival function
    (ties make it conservative). Missing values: Fisher's exact test (Fisher, 1922).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(0, 1, 20_000)
    >>> x[15_000:][rng.random(5_000) < 0.05] = np.nan  # 5% missing from event 15,000
    >>> [(d.index, d.severity) for d in QualityNumeric().update(x)]
    [(15099, 'drift')]

    References
    ----------
    R. A. Fisher (1922). On the interpretation of chi-square from contingency tables.
    J. R. Statist. Soc. 85(1), 87-94.
    """

    input_type = "numeric"
    method = "quality"
    strange_check = "out_of_range"

    def _prepare(self, values):
        arr = as_float_array(values)
        return np.isnan(arr), arr

    def _present(self, batch, start, stop):
        part = batch[start:stop]
        return part[~np.isnan(part)].tolist()

    def _fit(self, present):
        self._n_obs = int(present.shape[0])
        self._lo = float(present.min()) if present.size else np.inf
        self._hi = float(present.max()) if present.size else -np.inf

    def _strange(self, batch, start, stop):
        part = batch[start:stop]  # NaN compares false: a missing value is never strange
        return (part < self._lo) | (part > self._hi)

    def _strange_p(self, k, m):
        from scipy.stats import betabinom

        a, b = 2, max(self._n_obs - 1, 1)
        return np.where(k > 0, betabinom.sf(k - 1, np.maximum(m, k), a, b), 1.0)

    def _ref_state(self):
        # no value in the reference: the range is empty (inf, -inf), which JSON cannot say
        finite = np.isfinite(self._lo) and np.isfinite(self._hi)
        return {"n_obs": self._n_obs, "lo": self._lo if finite else None, "hi": self._hi if finite else None}

    def _load_ref_state(self, state):
        self._n_obs = int(state["n_obs"])
        empty = state["lo"] is None or state["hi"] is None
        self._lo, self._hi = (np.inf, -np.inf) if empty else (float(state["lo"]), float(state["hi"]))


class QualityCategorical(_QualityWindow):
    """Missing values rising, and levels never seen in the reference (a new category).

    Unseen levels: the probability that a new value is a level absent from ``n`` reference
    values is estimated by Good-Turing as ``f1 / n`` (``f1``: levels seen once); with its
    uncertainty as Beta(f1 + 1, n - f1), the count ``k`` of unseen values among ``m`` is
    beta-binomial and the p-value its survival function. Missing values: Fisher's exact test.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> x = rng.choice(["DE", "FR", "IT"], 20_000).astype(object)
    >>> x[15_000:][rng.random(5_000) < 0.02] = "PL"  # a new country from event 15,000
    >>> [(d.index, d.severity) for d in QualityCategorical().update(x)]
    [(15199, 'warning'), (15299, 'drift')]

    References
    ----------
    I. J. Good (1953). The population frequencies of species and the estimation of population
    parameters. Biometrika 40(3-4), 237-264.
    """

    input_type = "categorical"
    method = "quality_cat"
    strange_check = "unseen_level"

    def _prepare(self, values):
        names, codes, _ = factorize_categories(values)
        return codes < 0, (names, codes)

    def _present(self, batch, start, stop):
        names, codes = batch
        part = codes[start:stop]
        return names[part[part >= 0]].tolist()

    def _fit(self, present):
        uniq, counts = np.unique(present.astype(str), return_counts=True) if present.size else ([], [])
        self._levels = {str(u) for u in uniq}
        self._f1 = int(np.sum(np.asarray(counts) == 1))
        self._n_obs = int(present.shape[0])

    def _strange(self, batch, start, stop):
        names, codes = batch  # one set lookup per level, not per value; code -1 (missing) -> False
        unseen = np.fromiter((name not in self._levels for name in names), dtype=bool, count=len(names))
        return np.append(unseen, False)[codes[start:stop]]

    def _strange_p(self, k, m):
        from scipy.stats import betabinom

        a, b = self._f1 + 1, max(self._n_obs - self._f1, 1)
        return np.where(k > 0, betabinom.sf(k - 1, np.maximum(m, k), a, b), 1.0)

    def _ref_state(self):
        return {"levels": sorted(self._levels), "f1": self._f1, "n_obs": self._n_obs}

    def _load_ref_state(self, state):
        self._levels, self._f1, self._n_obs = set(state["levels"]), int(state["f1"]), int(state["n_obs"])
