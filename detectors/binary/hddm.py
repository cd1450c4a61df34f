"""HDDM_A: Hoeffding's-bound drift detection on a stream of 0/1 errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from driftline.detectors.base import (
    STATE_VERSION,
    Detection,
    check_state_version,
    hysteresis_fires,
    restored_last_statistic,
)
from driftline.detectors.binary.error_rate import CumulativeErrorRate
from driftline.detectors.window import WARNING_REARM_EXPONENT, ts_or_none


class HDDM(CumulativeErrorRate):
    """HDDM_A of Frías-Blanco et al. (2015) on a learner's 0/1 error stream, one-sided.

    With ``n`` values and error rate ``p_n`` since the last reset, the detector keeps a cut
    point ``c``: the (latest) prefix minimising ``p_c + sqrt(ln(1 / alpha_drift) / (2 c))``
    (the mean plus its Hoeffding bound). The error rate after the cut has risen when

        ``p_n - p_c >= sqrt(m / 2 * ln(2 / alpha))`` with ``m = (n - c) / (c n)``

    (Hoeffding's inequality for the difference of the two means, the paper's test A). With
    ``alpha = alpha_drift`` that is a ``drift``, reported once; the statistics then start afresh
    from the next value. With ``alpha = alpha_warning`` it is a ``warning``, reported once; it
    re-arms when the test fails again at ``alpha_warning ** 0.5`` (hysteresis) or after a drift.
    Only a rise of the error rate is tested (a learner getting better is no alarm).

    ``alpha_drift`` bounds the probability of a false drift per test and there is one test per
    value, so driftline's budget calibrates it like the other detectors' levels.

    This follows ``river.drift.binary.HDDMA`` (``alpha_drift`` is its ``drift_confidence``,
    ``alpha_warning`` its ``warning_confidence``, with ``two_sided_test=False``). The one
    intended difference is numerical: the means are computed as ``errors / n`` from integer
    counts (River keeps running means), which makes the result independent of batching.

    ``Detection.statistic`` is ``p_n - p_c``, ``threshold`` the bound it reached,
    ``reference_n`` is ``c`` and ``current_n`` is ``n - c``; ``start_ts`` / ``end_ts`` are the
    timestamps of the first value since the last reset and of the firing value. NaN values
    are skipped.

    **Input:** 1 is an error (the prediction was wrong), 0 a correct prediction.

    Parameters
    ----------
    alpha_drift
        Drift confidence: the bound on the probability of a false drift per test.
    alpha_warning
        Warning confidence, greater than ``alpha_drift``; ``None`` for no warnings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(2_000) < 0.1, rng.random(2_000) < 0.4]).astype(float)
    >>> [(d.index, d.severity) for d in HDDM().update(errors)]  # River's HDDMA: drift at 2061 too
    [(2049, 'warning'), (2061, 'drift'), (2127, 'warning')]

    References
    ----------
    I. Frías-Blanco, J. del Campo-Ávila, G. Ramos-Jiménez, R. Morales-Bueno, A. Ortiz-Díaz,
    Y. Caballero-Mota (2015). Online and Non-Parametric Drift Detection Methods Based on
    Hoeffding's Bounds. IEEE Transactions on Knowledge and Data Engineering 27(3), 810-823.
    """

    method = "hddm"

    def __init__(self, alpha_drift: float = 0.001, alpha_warning: float | None = 0.005) -> None:
        if not isinstance(alpha_drift, (int, float)) or isinstance(alpha_drift, bool) or not 0.0 < alpha_drift < 1.0:
            raise ValueError(f"HDDM: alpha_drift must be in (0, 1), got {alpha_drift!r}")
        if alpha_warning is not None:
            if (
                not isinstance(alpha_warning, (int, float))
                or isinstance(alpha_warning, bool)
                or not 0.0 < alpha_warning < 1.0
            ):
                raise ValueError(f"HDDM: alpha_warning must be in (0, 1) or None, got {alpha_warning!r}")
            if alpha_warning <= alpha_drift:
                raise ValueError(
                    f"HDDM: alpha_warning ({alpha_warning}) must be greater than alpha_drift ({alpha_drift})"
                )
        self.alpha_drift = float(alpha_drift)
        self.alpha_warning = None if alpha_warning is None else float(alpha_warning)
        self._reset()

    def _reset(self) -> None:
        self._n = 0  # values since the last reset
        self._errors = 0
        self._f_min = math.inf  # mean plus Hoeffding bound at the cut point
        self._cut_n = 0  # values up to the cut point (0: none yet)
        self._cut_errors = 0
        self._armed = True
        self._start_ts = -1

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "n": self._n,
            "errors": self._errors,
            "f_min": self._f_min if math.isfinite(self._f_min) else None,
            "cut_n": self._cut_n,
            "cut_errors": self._cut_errors,
            "armed": self._armed,
            "start_ts": self._start_ts,
            "last_statistic": self.last_statistic,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        self._n, self._errors = int(state["n"]), int(state["errors"])
        self._f_min = math.inf if state["f_min"] is None else float(state["f_min"])
        self._cut_n, self._cut_errors = int(state["cut_n"]), int(state["cut_errors"])
        self._armed = bool(state["armed"])
        self._start_ts = int(state["start_ts"])
        self._last_statistic = restored_last_statistic(state)

    def _run(self, errs, tss, keep, pos, detections) -> int:
        k, n, e, p = self._running(errs, tss, pos)
        f = p + np.sqrt(math.log(1.0 / self.alpha_drift) / (2.0 * n))
        cummin = np.minimum.accumulate(np.concatenate([[self._f_min], f]))
        record = f <= cummin[:-1]  # River: x_min + eps_x >= z + eps_z moves the cut point
        steps = np.arange(k)
        last = np.maximum.accumulate(np.where(record, steps, -1))
        has = last >= 0
        cut_n = np.where(has, n[last], self._cut_n)
        cut_e = np.where(has, e[last], self._cut_errors)
        valid = cut_n < n
        safe_cut = np.maximum(cut_n, 1)
        diff = np.where(valid, p - cut_e / safe_cut, 0.0)
        m = (n - cut_n) / (safe_cut * n)

        def bound(alpha: float) -> np.ndarray:
            return np.sqrt(m / 2.0 * math.log(2.0 / alpha))

        eps_d = bound(self.alpha_drift)
        drift = valid & (diff >= eps_d)
        hits = np.flatnonzero(drift)
        end = int(hits[0]) + 1 if hits.size else k  # process up to and including the drift
        if self.alpha_warning is not None:
            eps_w = bound(self.alpha_warning)
            warn = valid & (diff >= eps_w) & ~drift
            low = ~valid | (diff < bound(self.alpha_warning**WARNING_REARM_EXPONENT))
            fires, armed = hysteresis_fires(warn[:end], low[:end], self._armed)
        else:
            eps_w = eps_d
            fires, armed = np.zeros(end, dtype=bool), True
        self._last_statistic = (float(diff[end - 1]), float(eps_d[end - 1]))

        def detection(i: int, severity: str, threshold: np.ndarray) -> Detection:
            return Detection(
                index=int(keep[pos + i]),
                severity=severity,
                statistic=float(diff[i]),
                p_value=None,
                threshold=float(threshold[i]),
                reference_n=int(cut_n[i]),
                current_n=int(n[i] - cut_n[i]),
                start_ts=ts_or_none(self._start_ts),
                end_ts=ts_or_none(int(tss[pos + i])),
            )

        detections.extend(detection(int(i), "warning", eps_w) for i in np.flatnonzero(fires))
        if hits.size:
            detections.append(detection(end - 1, "drift", eps_d))
            self._reset()  # start afresh from the next value
            return pos + end
        self._n, self._errors = int(n[-1]), int(e[-1])
        self._f_min = float(cummin[-1])
        self._cut_n, self._cut_errors = int(cut_n[-1]), int(cut_e[-1])
        self._armed = armed
        return pos + k
