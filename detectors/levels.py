"""Categorical values as level codes: the shared step of the categorical detectors.

``None`` and float NaN are missing; every other value is the level of its ``str``, so 1 and
"1" are one level. The chi-square test (:mod:`driftline.detectors.categorical`) and the
data-quality tests (:mod:`driftline.detectors.quality`) code their batches the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_category_array(values: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Split a batch of labels into (non-missing levels as str, their batch indices, batch size).

    ``None`` and float NaN are missing.
    """
    arr = np.asarray(values, dtype=object).reshape(-1)
    missing = np.equal(arr, None) | np.not_equal(arr, arr)  # x != x only for NaN
    keep = np.flatnonzero(~missing)
    return arr[keep].astype(str), keep, arr.shape[0]


def factorize_categories(values: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """``(level names as str, code of every value (-1: missing), batch size)``, by hashing.

    The same levels as :func:`as_category_array` (``None`` and NaN missing, other values by
    their ``str``), several times faster than converting and sorting strings.

    >>> names, codes, n = factorize_categories(np.array(["b", None, "a", "b", 1, "1"], dtype=object))
    >>> names.tolist(), codes.tolist(), n
    (['b', 'a', '1'], [0, -1, 1, 0, 2, 2], 6)
    """
    import pandas as pd

    arr = np.asarray(values, dtype=object).reshape(-1)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    codes = codes.astype(np.int64, copy=False)
    names = [u if isinstance(u, str) else str(u) for u in uniques]
    if len(set(names)) < len(names):  # e.g. 1 and "1": one level
        first: dict[str, int] = {}
        remap = np.array([first.setdefault(name, len(first)) for name in names] + [-1], dtype=np.int64)
        codes, names = remap[codes], list(first)
    out = np.empty(len(names), dtype=object)
    out[:] = names
    return out, codes, arr.shape[0]
