"""The rankings of a stream-level alert: the stream's reference binned by feature and by
segment, the last ``window`` events, and :meth:`Explainer.explain` (:mod:`.rank`'s statistics).

Fed with columns (a feature's values, as a list or a NumPy array), segment codes and each
event's error: the learner's realised ones, or the judge's estimated ones (1 - CBPE's expected
correctness, DLE's estimated loss). Pure computation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.consumers.core.segments import rank

if TYPE_CHECKING:
    from driftline.consumers.core.segments.slicing import Slicing
    from driftline.stream.messages import Alert

#: events after an excursion's start needed for a ranking; fewer: the last this many
MIN_AFTER = 200
#: rows of ``segment_ranking`` an alert carries, at most
RANKED = 10
METHOD = "oaxaca-blinder shift term over the reference's quantile bins"


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values
    return np.array([np.nan if v is None else v for v in values], dtype=float)


class Explainer:
    """The reference's sums per feature bin and per segment, and a ring of recent events."""

    def __init__(self, types: dict[str, str], slicings: list[Slicing], window: int, bins: int, binary: bool):
        self.types, self.slicings, self.window, self.bins, self.binary = types, slicings, window, bins, binary
        self.fitted = False
        self.edges: dict[str, list[float]] = {}
        self.levels: dict[str, dict[str, int]] = {}
        self.ref_bins: dict[str, np.ndarray] = {}
        self.ref_segments: list[dict[str, list[float]]] = [{} for _ in slicings]
        self._errors = np.empty(0)
        self._ts = np.empty(0, dtype=np.int64)
        self._codes = np.empty((len(slicings), 0), dtype=np.int64)
        self._bins_ring = np.empty((len(types), 0), dtype=np.int64)

    def fit(self, cols: dict[str, Any], codes: list[np.ndarray], errors: np.ndarray) -> None:
        """The reference (the slicings already chosen): its bins, and its sums per bin and segment."""
        keep = np.isfinite(errors)
        errors = np.where(keep, errors, 0.0)
        for i, slicing in enumerate(self.slicings):
            seg_of, names = slicing.segment_codes(codes[i])
            inside = (seg_of >= 0) & keep
            sums = rank.bin_sums(seg_of[inside], errors[inside], len(names))
            self.ref_segments[i] = {n: sums[j].tolist() for j, n in enumerate(names) if sums[j, 0] > 0}
        for f, ftype in self.types.items():
            if ftype == "numeric":
                self.edges[f] = rank.numeric_edges(_floats(cols[f]), self.bins).tolist()
            else:
                self.levels[f] = rank.top_levels(list(cols[f]))
            bins = self._bin(f, cols[f])
            self.ref_bins[f] = rank.bin_sums(bins[keep], errors[keep], self._bin_count(f))
        self.fitted = True

    def _bin_count(self, f: str) -> int:
        return len(self.edges[f]) + 2 if f in self.edges else len(self.levels[f]) + 2

    def _bin(self, f: str, values: Any) -> np.ndarray:
        if f in self.edges:
            return rank.numeric_bins(_floats(values), np.asarray(self.edges[f]))
        return rank.level_codes(list(values), self.levels[f])

    def add(self, cols: dict[str, Any], codes: list[np.ndarray], errors: np.ndarray, ts: np.ndarray) -> None:
        """Events after the reference (those without an error left out)."""
        keep = np.isfinite(errors)
        w = self.window
        self._errors = np.concatenate([self._errors, errors[keep]])[-w:]
        self._ts = np.concatenate([self._ts, ts[keep]])[-w:]
        if self.slicings:
            self._codes = np.concatenate([self._codes, np.vstack(codes)[:, keep]], axis=1)[:, -w:]
        if self.types:
            bins = np.vstack([self._bin(f, cols[f]) for f in self.types])[:, keep]
            self._bins_ring = np.concatenate([self._bins_ring, bins], axis=1)[:, -w:]

    def explain(self, alert: Alert) -> dict[str, Any]:
        """``segment_ranking`` and ``feature_ranking`` for a stream-level alert: the events since
        its detector's excursion began (at least :data:`MIN_AFTER`, at most ``window``) against
        the reference."""
        if not self.fitted:
            return {}
        end = alert.position.ts if alert.position.ts is not None else np.iinfo(np.int64).max
        start = alert.window.start_ts if alert.window.start_ts is not None else np.iinfo(np.int64).min
        upto = self._ts <= end
        sel = upto & (self._ts >= start)
        if sel.sum() < MIN_AFTER:
            sel = upto & (np.cumsum(upto[::-1])[::-1] <= MIN_AFTER)
        errors = self._errors[sel]
        segments: list[dict[str, Any]] = []
        for i, slicing in enumerate(self.slicings):
            seg_of, names = slicing.segment_codes(self._codes[i][sel])
            inside = seg_of >= 0
            after = rank.bin_sums(seg_of[inside], errors[inside], len(names))
            for j, name in enumerate(names):
                before = self.ref_segments[i].get(name)
                if before is not None and after[j, 0] > 0:
                    segments.append(rank.segment_entry(slicing.key(name), np.asarray(before), after[j], self.binary))
        segments.sort(key=lambda e: (-e["rise"], e["p_value"], sorted(e["segment"].items())))
        features = []
        for k, f in enumerate(self.types):
            after = rank.bin_sums(self._bins_ring[k][sel], errors, self._bin_count(f))
            explained, shift = rank.shift_term(self.ref_bins[f], after)
            features.append({"feature": f, "explained": round(explained, 6), "shift": round(shift, 6)})
        features.sort(key=lambda e: (-e["explained"], e["feature"]))
        ref = next(iter(self.ref_bins.values())) if self.ref_bins else np.zeros((1, 3))
        ref_n = float(ref[:, 0].sum())
        ref_mean = float(ref[:, 1].sum()) / ref_n if ref_n else 0.0
        return {
            "segment_ranking": segments[:RANKED],
            "feature_ranking": features,
            "attribution": {"method": METHOD, "events_after": int(sel.sum()), "events_reference": int(ref_n),
                            "change": round(float(errors.mean()) - ref_mean, 6) if errors.shape[0] else None},
        }

    def state_dict(self) -> dict[str, Any]:
        return {"fitted": self.fitted, "edges": self.edges, "levels": self.levels,
                "ref_bins": {f: b.tolist() for f, b in self.ref_bins.items()}, "ref_segments": self.ref_segments,
                "ring": [self._errors.tolist(), self._ts.tolist(), self._codes.tolist(), self._bins_ring.tolist()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fitted, self.edges, self.levels = state["fitted"], state["edges"], state["levels"]
        self.ref_bins = {f: np.asarray(b, dtype=float) for f, b in state["ref_bins"].items()}
        self.ref_segments = state["ref_segments"]
        errors, ts, codes, bins = state["ring"]
        self._errors, self._ts = np.asarray(errors, dtype=float), np.asarray(ts, dtype=np.int64)
        self._codes = np.asarray(codes, dtype=np.int64).reshape(len(self.slicings), -1)
        self._bins_ring = np.asarray(bins, dtype=np.int64).reshape(len(self.types), -1)
