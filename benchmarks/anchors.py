"""The anchors of the drift benchmarks: River's and MOA's single drift detectors, with their defaults.

River's come with driftline (a dependency). MOA's are the detectors' reference implementations,
by their authors, in MOA's jar as CapyMOA bundles it (run on a JVM through JPype); CapyMOA is a
benchmark-only dependency (``pip install -e '.[bench]'``), and without it (or without a Java
runtime) the benchmarks compare against River alone and say why.

Each anchor is fed one value at a time and counts an alarm whenever it reports a drift (every one
of them re-arms by itself: ADWIN drops its older window, the others restart their statistics).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from river import drift as rdrift

#: kinds of stream an anchor applies to: real values, or 0/1 outcomes (errors, binary targets)
NUMERIC, BINARY = "numeric", "binary"

RIVER: dict[str, dict[str, Callable[[], object]]] = {
    NUMERIC: {"River ADWIN": rdrift.ADWIN, "River KSWIN": lambda: rdrift.KSWIN(seed=1),
              "River PageHinkley": rdrift.PageHinkley},
    BINARY: {"River ADWIN": rdrift.ADWIN, "River DDM": rdrift.binary.DDM, "River EDDM": rdrift.binary.EDDM,
             "River HDDM_A": rdrift.binary.HDDMA, "River HDDM_W": rdrift.binary.HDDMW,
             "River FHDDM": rdrift.binary.FHDDM,
             "River PageHinkley": rdrift.PageHinkley},
}
#: River's KSWIN is slow (a KS test per value, in Python) and, at its defaults, raises over 100 false
#: alarms per 100,000 drift-free values: the equal-rate comparison, which excludes such rates, skips it
SLOW = {"River KSWIN"}

#: MOA's detectors by kind: the CapyMOA class names (those for 0/1 inputs only under BINARY)
MOA_NAMES = {
    NUMERIC: ("ADWIN", "CUSUM", "PageHinkley", "EWMAChart", "GeometricMovingAverage"),
    BINARY: ("ADWIN", "CUSUM", "PageHinkley", "DDM", "EDDM", "HDDMAverage", "HDDMWeighted", "RDDM", "SEED",
             "STEPD", "EWMAChart", "GeometricMovingAverage"),
}


def moa_missing() -> str | None:
    """Why MOA's detectors cannot run here (None: they can)."""
    try:
        from capymoa.drift import detectors  # noqa: F401  (starts the JVM)
    except Exception as exc:  # ImportError, or the JVM failing to start  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def anchors(kind: str, moa: bool = True, slow: bool = True) -> dict[str, Callable[[], object]]:
    """Name -> factory of every anchor for streams of ``kind`` (``slow=False``: without :data:`SLOW`)."""
    out = {name: make for name, make in RIVER[kind].items() if slow or name not in SLOW}
    if moa and moa_missing() is None:
        from capymoa.drift import detectors

        out |= {f"MOA {name}": getattr(detectors, name) for name in MOA_NAMES[kind]}
    return out


def run_anchor(make: Callable[[], object], x: np.ndarray) -> list[int]:
    """Indices of the anchor's drift alarms over ``x`` (one value at a time)."""
    det = make()
    alarms = []
    if hasattr(det, "add_element"):  # MOA, through CapyMOA
        add, changed = det.add_element, det.detected_change
        for i, v in enumerate(x.tolist()):
            add(v)
            if changed():
                alarms.append(i)
    else:  # River
        for i, v in enumerate(x.tolist()):
            det.update(v)
            if det.drift_detected:
                alarms.append(i)
    return alarms
