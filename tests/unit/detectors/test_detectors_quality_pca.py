"""Data-quality and PCA detectors: their vectorised shortcuts give what the definitions give."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from driftline.detectors import PCAReconstruction, QualityCategorical, QualityNumeric
from driftline.detectors.quality.quality import MISSING, OK, STRANGE, window_counts


def feed(det, values, sizes) -> list:
    """Detections with indexes into the whole stream, fed in batches of ``sizes``."""
    out, start = [], 0
    for size in sizes:
        found = det.update(values[start : start + size], np.arange(start, start + size))
        out += [dataclasses.replace(d, index=d.index + start) for d in found]
        start += size
    return out


def random_sizes(rng: np.random.Generator, n: int, largest: int) -> list[int]:
    sizes = []
    while n:
        sizes.append(min(n, int(rng.integers(1, largest))))
        n -= sizes[-1]
    return sizes


@pytest.mark.parametrize("seed", range(5))
def test_window_counts_are_the_counts_in_each_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.choice(np.array([OK, MISSING, STRANGE], np.int8), 3_000, p=[0.9, 0.06, 0.04])
    window = int(rng.integers(1, 500))
    stops = np.sort(rng.integers(window, codes.shape[0] + 1, 50))
    k_miss, k_str = window_counts(codes, stops, window)
    assert k_miss.tolist() == [int(np.sum(codes[s - window : s] == MISSING)) for s in stops]
    assert k_str.tolist() == [int(np.sum(codes[s - window : s] == STRANGE)) for s in stops]
    none = window_counts(np.zeros(100, np.int8), np.array([10, 100]), 10)
    assert none[0].tolist() == none[1].tolist() == [0, 0]


def messy_levels(n: int) -> np.ndarray:
    """Levels with None, NaN, the int 1 beside the string "1", and a new level from n/2 on."""
    rng = np.random.default_rng(4)
    pool = np.array(["a", "b", "1", 1, None, float("nan")], dtype=object)
    x = rng.choice(pool, n, p=[0.4, 0.3, 0.1, 0.1, 0.05, 0.05])
    x[n // 2 :][rng.random(n - n // 2) < 0.05] = "new"
    x[3 * n // 4 :][rng.random(n - 3 * n // 4) < 0.2] = None
    return x


def make_quality_cat() -> QualityCategorical:
    return QualityCategorical(reference_size=500, window=200, stride=20, alpha_drift=1e-5, alpha_warning=1e-3)


def test_quality_categorical_on_messy_levels_is_batch_invariant() -> None:
    x = messy_levels(6_000)
    whole = feed(make_quality_cat(), x, [x.shape[0]])
    assert {d.severity for d in whole} == {"warning", "drift"}
    assert feed(make_quality_cat(), x, [1] * x.shape[0]) == whole
    assert feed(make_quality_cat(), x, random_sizes(np.random.default_rng(1), x.shape[0], 700)) == whole


def test_quality_categorical_counts_unseen_levels_and_missing_values() -> None:
    det = make_quality_cat()
    det.update(np.array(["a", "b", 1] * 200, dtype=object))  # the reference: levels a, b, 1
    det.update(np.array(["a", "1", "c", None, float("nan"), "b"], dtype=object))  # before any test
    codes = det.state_dict()["codes"][-6:]
    assert codes == [OK, OK, STRANGE, MISSING, MISSING, OK]  # "1" is the level 1: seen


@pytest.mark.parametrize("cls, values", [
    (QualityNumeric, np.where(np.random.default_rng(2).random(5_000) < 0.02, np.nan,
                              np.random.default_rng(3).normal(0, 1, 5_000))),
    (QualityCategorical, messy_levels(5_000)),
])
def test_quality_state_in_the_reference_and_after_it_round_trips(cls, values) -> None:
    make = lambda: cls(reference_size=500, window=200, stride=20, alpha_drift=1e-5, alpha_warning=1e-3)
    for split in (300, 2_500):
        first = make()
        feed(first, values, [split])
        state = json.loads(json.dumps(first.state_dict()))
        assert all(isinstance(v, (str, float)) for v in state["reference_values"])
        second = make()
        second.load_state_dict(state)
        rest = values[split:]
        assert feed(first, rest, [rest.shape[0]]) == feed(second, rest, [rest.shape[0]])
        assert first.state_dict() == second.state_dict()


def correlated_rows(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    rows[n // 2 :] = rng.normal(size=(n - n // 2, d)) @ rng.normal(size=(d, d))
    rows[rng.random((n, d)) < 0.01] = np.nan
    return rows


def test_pca_error_is_bit_for_bit_the_same_in_any_layout_and_batch() -> None:
    rows = correlated_rows(3_000, 5, 0)
    det = PCAReconstruction(reference_size=1_000)
    det.fit_reference(rows[:1_000])
    complete = rows[~np.isnan(rows).any(axis=1)]
    whole = det._spe(np.ascontiguousarray(complete))
    assert np.array_equal(det._spe(np.asfortranarray(complete)), whole)
    assert np.array_equal(np.concatenate([det._spe(complete[i : i + 1]) for i in range(0, 500)]), whole[:500])


def test_pca_detections_do_not_depend_on_the_layout_or_the_batches() -> None:
    rows = correlated_rows(8_000, 4, 1)
    make = lambda: PCAReconstruction(reference_size=1_000, window=300, stride=30, alpha_drift=1e-6, alpha_warning=1e-4)
    by_rows = feed(make(), np.ascontiguousarray(rows), [rows.shape[0]])
    assert by_rows
    by_columns = feed(make(), np.asfortranarray(rows), random_sizes(np.random.default_rng(2), rows.shape[0], 900))
    assert by_columns == by_rows


def test_pca_state_while_collecting_the_reference_keeps_its_rows() -> None:
    rows = correlated_rows(4_000, 3, 2)
    make = lambda: PCAReconstruction(reference_size=1_000, window=200, stride=20)
    first = make()
    feed(first, rows, [400, 300])
    state = json.loads(json.dumps(first.state_dict()))
    complete = rows[:700][~np.isnan(rows[:700]).any(axis=1)]
    assert state["rows"] == complete.tolist()  # a list of rows, as before
    second = make()
    second.load_state_dict(state)
    rest = rows[700:]
    assert feed(first, rest, [rest.shape[0]]) == feed(second, rest, [rest.shape[0]])
    assert first.state_dict() == second.state_dict()
