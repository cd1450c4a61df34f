"""What detectors of a 0/1 error rate built on running counts share (DDM, HDDM_A).

Both read the stream through ``n`` (values since the last reset) and ``e`` (errors among
them), process a batch in one vectorised pass up to its first drift, restart there, and go on
with the rest: this class does the batch walk and the running counts; a subclass writes only
``_run``, the pass.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from driftline.detectors.base import Detection, Detector, binary_input


class CumulativeErrorRate(Detector):
    input_type = "binary"

    _n: int
    _errors: int
    _start_ts: int

    def update(self, values: Any, ts: Any = None) -> list[Detection]:
        errs, tss, keep = binary_input(values, ts, type(self).__name__)
        detections: list[Detection] = []
        pos = 0
        while pos < errs.shape[0]:
            pos = self._run(errs, tss, keep, pos, detections)
        return detections

    def _running(self, errs: np.ndarray, tss: np.ndarray, pos: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """For ``errs[pos:]``: its length and, after each value, ``n``, ``e`` and ``p = e / n``."""
        seg = errs[pos:]
        if self._n == 0:
            self._start_ts = int(tss[pos])
        n = self._n + np.arange(1, seg.shape[0] + 1, dtype=np.int64)
        e = self._errors + np.cumsum(seg)
        return seg.shape[0], n, e, e / n

    @abstractmethod
    def _run(
        self, errs: np.ndarray, tss: np.ndarray, keep: np.ndarray, pos: int, detections: list[Detection]
    ) -> int:
        """Process ``errs[pos:]`` up to and including the first drift; return where to go on."""
