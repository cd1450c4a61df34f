"""Turning a false-alarm budget into per-test significance levels.

An operator states a budget such as ``"1 per 1,000,000 events"``: the number of false drift
alarms per event they accept over all detectors of a stream. :func:`parse_rate` reads it and
:func:`alpha_per_test` splits it (Bonferroni) between detectors and between the tests each
detector runs per value.

>>> rate = parse_rate("1 per 1,000,000 events")
>>> rate
1e-06
>>> print(f"{alpha_per_test(rate, tests_per_value=1 / 100, n_detectors=4):.3g}")
2.5e-05
"""

from __future__ import annotations

import math
import re

#: the largest significance level a test is ever given (a budget this loose is meaningless)
MAX_ALPHA = 0.5

_NUMBER = r"[0-9][0-9,_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
_PER_RE = re.compile(
    rf"^\s*(?P<num>{_NUMBER})\s*(?:per|/)\s*(?P<den>{_NUMBER})\s*(?:events?|values?)?\s*$",
    re.IGNORECASE,
)


def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("_", ""))


def parse_rate(text: str | float) -> float:
    """Parse a false-alarm budget into false alarms per event.

    Accepts a number (``1e-6``, ``"1e-6"``) or ``"<k> per <n> [events]"`` with ``n`` written
    plainly, with thousands separators or in scientific notation.

    >>> parse_rate("1 per 1e6 events"), parse_rate("2 per 1000"), parse_rate(0.001)
    (1e-06, 0.002, 0.001)
    >>> parse_rate("often")
    Traceback (most recent call last):
    ...
    ValueError: false-alarm rate 'often' is not understood: write e.g. '1 per 1000000 events', '1 per 1e6 events' or '1e-6'
    """
    if isinstance(text, bool):
        raise ValueError(f"false-alarm rate must be a number or a string, not {text!r}")
    if isinstance(text, (int, float)):
        rate = float(text)
    elif isinstance(text, str):
        match = _PER_RE.match(text)
        try:
            if match:
                den = _to_float(match["den"])
                if den == 0:
                    raise ValueError(f"false-alarm rate {text!r} divides by zero events")
                rate = _to_float(match["num"]) / den
            else:
                rate = float(text.strip())
        except ValueError as exc:
            if "divides by zero" in str(exc):
                raise
            raise ValueError(
                f"false-alarm rate {text!r} is not understood: write e.g. "
                "'1 per 1000000 events', '1 per 1e6 events' or '1e-6'"
            ) from None
    else:
        raise ValueError(f"false-alarm rate must be a number or a string, not {text!r}")
    if not math.isfinite(rate) or not 0.0 < rate <= 1.0:
        raise ValueError(
            f"false-alarm rate {text!r} gives {rate!r} false alarms per event; "
            "it must be in (0, 1]"
        )
    return rate


def alpha_per_test(rate_per_event: float, tests_per_value: float, n_detectors: int) -> float:
    """Significance level of one test so that all detectors together keep the budget.

    Each of the ``n_detectors`` detectors gets ``rate_per_event / n_detectors`` false alarms per
    event; a detector that runs ``tests_per_value`` tests per value (``1 / stride`` for a
    windowed test) gets ``alpha = rate_per_event / n_detectors / tests_per_value`` per test,
    capped at :data:`MAX_ALPHA`.

    This is a Bonferroni (union) bound on the *expected number* of false alarms: it holds
    whatever the dependence between tests, and it is conservative here because consecutive
    tests of a sliding window share most of their values and are positively correlated, so
    one excursion of the statistic tends to cross the threshold at several tests that the
    detector reports once.

    >>> alpha_per_test(1e-6, tests_per_value=1.0, n_detectors=1)
    1e-06
    >>> alpha_per_test(0.1, tests_per_value=0.01, n_detectors=1)
    0.5
    """
    if not (math.isfinite(rate_per_event) and rate_per_event > 0):
        raise ValueError(f"rate_per_event must be a positive number, got {rate_per_event!r}")
    if not (math.isfinite(tests_per_value) and tests_per_value > 0):
        raise ValueError(f"tests_per_value must be a positive number, got {tests_per_value!r}")
    if isinstance(n_detectors, bool) or int(n_detectors) != n_detectors or n_detectors < 1:
        raise ValueError(f"n_detectors must be an integer >= 1, got {n_detectors!r}")
    return min(rate_per_event / n_detectors / tests_per_value, MAX_ALPHA)
