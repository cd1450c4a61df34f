"""Import a named object (a River estimator class, a training function) with a clear error."""

from __future__ import annotations

import importlib
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
