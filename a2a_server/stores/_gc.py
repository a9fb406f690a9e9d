"""Long-lived records the garbage collector need not walk.

CPython stops tracking a plain ``tuple`` of atomic values (strings, numbers, bytes, None)
the first time a collection looks at it, but never a ``NamedTuple``: ``untrack_tuples``
checks for the exact type. A store keeps thousands of small named records (the keys of
each task, what this replica last wrote of it, when it finished), and every one of them
tracked is one more object each young collection walks while it is young and each full
collection walks for as long as it lives: tens of milliseconds, during which every
request and stream in flight waits (docs/performance.md, "Stream tails").

``untracked`` does for such a record what CPython does for a plain tuple. Only for
immutable records of atomic values: they can never be part of a reference cycle, so the
collector has nothing to find in them. A no-op where the C API is not reachable.
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any, TypeVar

T = TypeVar("T", bound=tuple[Any, ...])


def _load_untrack() -> Any:
    try:
        function: Any = ctypes.pythonapi.PyObject_GC_UnTrack
    except (AttributeError, OSError):  # not CPython
        return None
    function.argtypes = [ctypes.py_object]
    function.restype = None
    return function


_untrack = _load_untrack()
_ATOMIC = (str, bytes, int, float, type(None))


def untracked(record: T) -> T:
    """``record``, no longer tracked by the garbage collector (a tuple of atomic values).

    Raises:
        TypeError: a field is not atomic (a container could close a reference cycle).
    """
    if _untrack is not None and gc.is_tracked(record):
        for value in record:
            if type(value) not in _ATOMIC and not isinstance(value, bool):
                raise TypeError(f"only records of atomic values can be untracked, not {value!r}")
        _untrack(record)
    return record
