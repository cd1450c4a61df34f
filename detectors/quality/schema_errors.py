"""Schema errors rising: the share of a stream's messages that cannot be read or have a wrong type."""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.detectors.base import as_float_array
from driftline.detectors.quality.quality import QualityCategorical

#: the one level an accepted message is given (a rejected one is "missing")
_ACCEPTED = np.array(["accepted"], dtype=object)


class SchemaErrors(QualityCategorical):
    """The rate of rejected messages (unreadable, or a value of the wrong type) rising.

    ``update`` takes one flag per message of the stream, in offset order: 1 when the message
    was rejected (dead-lettered as unreadable: not JSON, too large, a missing id, a feature of
    the wrong type, ...), 0 when it was read. ``k`` rejected messages among the last ``window``
    are compared with ``K`` among the ``n`` messages of the reference by Fisher's exact test
    (Fisher, 1922), one-sided, p-value ``hypergeom.sf(k - 1, n + window, K + k, window)``: a
    single malformed message after a clean reference is no alarm (its p-value is about
    ``window / (n + window)``), a burst of them is. Schedule, reference renewal, warnings and
    their re-arming are those of the data-quality detectors
    (:class:`~driftline.detectors.quality.quality.QualityCategorical`), with one test per schedule
    point (``tests_per_value = 1 / stride``). :attr:`last_check` is ``"schema_errors"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> flags = (rng.random(20_000) < np.where(np.arange(20_000) < 15_000, 0.001, 0.02)).astype(int)
    >>> [(d.index, d.severity) for d in SchemaErrors().update(flags)]
    [(15499, 'drift')]

    References
    ----------
    R. A. Fisher (1922). On the interpretation of chi-square from contingency tables, and the
    calculation of P. Journal of the Royal Statistical Society 85(1), 87-94.
    """

    input_type = "messages"
    method = "schema"

    @property
    def tests_per_value(self) -> float:
        return 1.0 / self.stride

    @property
    def last_check(self) -> str | None:
        return None if self._last_check is None else "schema_errors"

    def _prepare(self, values: Any) -> tuple[np.ndarray, Any]:
        rejected = as_float_array(values) > 0.5
        return rejected, (_ACCEPTED, np.where(rejected, -1, 0))
