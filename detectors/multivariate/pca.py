"""Multivariate drift: PCA reconstruction error, for changes no single feature shows."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from driftline.detectors.base import STATE_VERSION, Detection, Detector, as_ts_array, check_state_version
from driftline.detectors.numeric.ks import KSWindow
from driftline.detectors.window import MIN_SIZE, set_window_params


class PCAReconstruction(Detector):
    """Windowed KS test of the PCA reconstruction error (SPE) of rows of several features.

    On every other reference row (standardised with their mean and deviation) the principal
    components that explain ``variance`` of the total (at most ``d - 1`` of ``d``) are kept.
    Each row's squared prediction error ``SPE = ||z - P P^T z||^2`` (Jackson & Mudholkar,
    1979) measures how far it lies off the reference's correlation structure: when two
    features' correlation flips while both marginals stay the same, no per-feature test can
    see it, but the SPE grows. The SPE stream is tested against the SPE of the reference rows
    left out of the fit (so that both are SPEs of rows the fit has not seen, exchangeable under
    no drift: an in-sample SPE is biased low, measured 7% on 20 features) by a
    :class:`~driftline.detectors.numeric.ks.KSWindow` with the same ``window``, ``stride`` and levels
    (its schedule, drift, warning and renewal rules apply; after a drift the next
    ``reference_size`` complete rows form a new reference and a new PCA).

    ``update`` takes a 2-D array, one row per event and one column per feature; rows with a
    missing value are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> cov = lambda r: [[1, r], [r, 1]]
    >>> rows = np.vstack([rng.multivariate_normal([0, 0], cov(0.8), 15_000),
    ...                   rng.multivariate_normal([0, 0], cov(-0.8), 5_000)])
    >>> [(d.index, d.severity) for d in PCAReconstruction().update(rows)]
    [(15099, 'warning'), (15199, 'drift')]

    References
    ----------
    J. E. Jackson, G. S. Mudholkar (1979). Control procedures for residuals associated with
    principal component analysis. Technometrics 21(3), 341-349.
    """

    input_type = "numeric"
    method = "pca"
    #: takes several features at once (rows), not one column
    multivariate: ClassVar[bool] = True

    def __init__(
        self,
        reference_size: int = 10_000,
        window: int = 1_000,
        stride: int = 100,
        alpha_drift: float = 1e-6,
        alpha_warning: float | None = 1e-4,
        variance: float = 0.9,
    ) -> None:
        if not isinstance(variance, (int, float)) or not 0.0 < variance < 1.0:
            raise ValueError(f"PCAReconstruction: variance must be in (0, 1), got {variance!r}")
        self._inner_args = dict(
            reference_size=reference_size, window=window, stride=stride,
            alpha_drift=alpha_drift, alpha_warning=alpha_warning,
        )
        set_window_params(self, reference_size, window, stride, alpha_drift, alpha_warning)
        self.variance = float(variance)
        self._reset()

    @property
    def tests_per_value(self) -> float:
        return 1.0 / self.stride

    @property
    def last_statistic(self) -> tuple[float, float] | None:
        return self._inner.last_statistic if self._inner is not None else None

    def reset(self) -> None:
        self._inner = None  # forget the last statistic too
        super().reset()

    def _reset(self) -> None:
        self._rows: list[np.ndarray] = []  # reference rows while collecting, in blocks
        self._n_rows = 0
        self._mean = self._sd = self._basis = None  # set with the reference (basis: discarded PCs)
        previous = getattr(self, "_inner", None)
        self._inner = KSWindow(**self._inner_args)
        if previous is not None:
            self._inner._last_statistic = previous.last_statistic

    def _fit(self, rows: np.ndarray, strict: bool = True) -> None:
        """Fit the components and the reference SPEs on ``rows``. A reference that cannot be
        used (too few rows, or values so large that the standardised ones overflow) raises
        when ``strict``; collected live, it is dropped and the rows that follow are the next."""
        if strict and (rows.shape[0] < MIN_SIZE or rows.shape[1] < 2):
            raise ValueError("PCAReconstruction: needs at least 10 complete rows of at least 2 features")
        # the components are fitted on every other reference row and the reference SPEs taken
        # from the rows in between: an SPE of a row the fit has seen is biased low (the fit
        # chose the discarded directions to have the least energy in those very rows), which
        # a KS test against new rows would take for a drift
        held = np.ascontiguousarray(rows[1::2])
        rows = np.ascontiguousarray(rows[0::2])  # the reductions' rounding depends on the memory layout
        with np.errstate(over="ignore", invalid="ignore"):
            self._mean = rows.mean(axis=0)
            self._sd = np.where(rows.std(axis=0) > 0, rows.std(axis=0), 1.0)
            z = (rows - self._mean) / self._sd
            # the covariance without BLAS: a multithreaded BLAS call can stall on a busy machine
            cov = np.einsum("ij,ik->jk", z, z, optimize=False) / max(z.shape[0] - 1, 1)
        if not np.isfinite(cov).all() or not cov.trace() > 0:
            self._unusable_reference(strict, "its values overflow or do not vary")
            return
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = eigval[order], eigvec[:, order]
        share = np.cumsum(eigval) / eigval.sum()
        q = min(int(np.searchsorted(share, self.variance)) + 1, rows.shape[1] - 1)
        self._basis = eigvec[:, q:]  # the discarded components: SPE is the energy in them
        with np.errstate(over="ignore", invalid="ignore"):
            spe = self._spe(held)
        if np.count_nonzero(np.isfinite(spe)) < MIN_SIZE:
            self._unusable_reference(strict, f"fewer than {MIN_SIZE} of its held-out rows give a finite error")
            return
        self._inner.fit_reference(spe)
        self._rows, self._n_rows = [], 0

    def _unusable_reference(self, strict: bool, why: str) -> None:
        if strict:
            raise ValueError(f"PCAReconstruction: the reference cannot be used: {why}")
        self._mean = self._sd = self._basis = None  # not fitted: collect the next reference
        self._rows, self._n_rows = [], 0

    def _spe(self, rows: np.ndarray) -> np.ndarray:
        """``||z - P P^T z||^2 = ||Q^T z||^2`` with ``Q`` the discarded components (orthonormal
        complement of ``P``), row by row in a fixed order of element-wise operations (no BLAS):
        ``score_j = z_0 q_0j + z_1 q_1j + ...`` summed left to right, then ``SPE = 0 + score_0^2
        + score_1^2 + ...``. So a row's SPE is bit-for-bit the same in any batch and any memory
        layout of ``rows`` (features as columns, as the engine passes them, is the fastest)."""
        cols = np.ascontiguousarray(rows.T)  # one row per feature (a view for the engine's layout)
        z = (cols - self._mean[:, None]) / self._sd[:, None]
        basis = self._basis[:, :, None]  # basis[i] multiplies feature i, for every component
        scores = z[0] * basis[0]  # one row per discarded component
        for i in range(1, z.shape[0]):
            scores += z[i] * basis[i]
        spe = np.zeros(rows.shape[0])
        for score in scores:
            spe += score * score
        return spe

    def fit_reference(self, values: Any) -> None:
        """Use the rows of ``values`` (e.g. training data) as the reference."""
        rows = np.asarray(values, dtype=np.float64)
        rows = rows[~np.isnan(rows).any(axis=1)]
        if rows.shape[0] > self.reference_size:
            rows = rows[np.linspace(0, rows.shape[0] - 1, self.reference_size).round().astype(np.int64)]
        self._reset()
        self._fit(rows)

    def state_dict(self) -> dict[str, Any]:
        ready = self._basis is not None
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "rows": np.concatenate(self._rows).tolist() if self._rows else [],
            "mean": self._mean.tolist() if ready else None,
            "sd": self._sd.tolist() if ready else None,
            "complement": self._basis.tolist() if ready else None,
            "inner": self._inner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_version(state, type(self))
        self._reset()
        if state["rows"]:
            self._rows = [np.asarray(state["rows"], dtype=np.float64)]
            self._n_rows = self._rows[0].shape[0]
        if state.get("complement") is not None:
            self._mean = np.asarray(state["mean"])
            self._sd = np.asarray(state["sd"])
            self._basis = np.asarray(state["complement"])
        elif state.get("basis") is not None:  # older state: the kept components
            self._mean = np.asarray(state["mean"])
            self._sd = np.asarray(state["sd"])
            kept = np.asarray(state["basis"])
            eigval, eigvec = np.linalg.eigh(np.eye(kept.shape[0]) - kept @ kept.T)
            self._basis = eigvec[:, eigval > 0.5]
        self._inner.load_state_dict(state["inner"])

    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        arr = np.asarray(values, dtype=np.float64)
        arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
        ts_arr = as_ts_array(ts, arr.shape[0])
        keep = np.flatnonzero(~np.isnan(arr).any(axis=1))
        rows, tss = (arr, ts_arr) if keep.shape[0] == arr.shape[0] else (arr[keep], ts_arr[keep])
        out: list[Detection] = []
        pos = 0
        while pos < rows.shape[0]:
            if self._basis is None:
                pos = self._collect(rows, pos)
                continue
            with np.errstate(over="ignore", invalid="ignore"):  # huge values: an infinite error
                spe = self._spe(rows[pos:])
            found = self._inner.update(spe, tss[pos:])
            drift = next((d for d in found if d.severity == "drift"), None)
            for d in found:
                if drift is not None and d.index > drift.index:
                    break
                out.append(_shift(d, keep, pos))
            if drift is None:
                break
            pos += drift.index + 1
            self._reset()  # a new reference and a new PCA from the next rows
        return out

    def _collect(self, rows: np.ndarray, pos: int) -> int:
        """Add rows ``pos:`` to the reference until it is complete (then fit it); return where to continue."""
        take = min(self.reference_size - self._n_rows, rows.shape[0] - pos)
        self._rows.append(np.array(rows[pos : pos + take], order="C"))  # a copy: the caller's array may change
        self._n_rows += take
        if self._n_rows == self.reference_size:
            self._fit(np.concatenate(self._rows), strict=False)
        return pos + take


def _shift(d: Detection, keep: np.ndarray, pos: int) -> Detection:
    return Detection(
        index=int(keep[pos + d.index]), severity=d.severity, statistic=d.statistic, p_value=d.p_value,
        threshold=d.threshold, reference_n=d.reference_n, current_n=d.current_n,
        start_ts=d.start_ts, end_ts=d.end_ts,
    )
