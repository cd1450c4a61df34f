"""Import a named object (a River estimator class, a training function) with a clear error."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def import_attribute(module_name: str, attr: str) -> Any:
    """``module_name.attr``, or None when the module has no such attribute.

    Raises ValueError naming the module when it cannot be imported.
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    return getattr(module, attr, None)


#: the batch model's trainer unless the configuration names another (``module:function``)
DEFAULT_TRAINER = "driftline.learners.batch:train_river"

Trainer = Callable[..., Any]


def resolve_trainer(entry_point: str) -> Trainer:
    """Import ``module:function``; ValueError saying what is wrong otherwise."""
    module_name, sep, attr = entry_point.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{entry_point!r} is not an entry point like 'package.module:function'")
    fn = import_attribute(module_name, attr)
    if not callable(fn):
        raise ValueError(f"{module_name!r} has no function {attr!r}")
    return fn
