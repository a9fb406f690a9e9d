"""The first problem pydantic found, for one-line error messages: where it is, and what.

Every place that validates a file or a body with pydantic (tenant files, agent bindings,
the tenant-agents policy, agent options, request bodies) names the field the same way:
``a.b.0`` by its location, ``""`` for an empty key, and ``whole`` when the problem is the
document itself.
"""

from __future__ import annotations

from pydantic import ValidationError


def first_problem(exc: ValidationError, whole: str) -> tuple[str, str]:
    """(field, message) of the first error in ``exc``; ``whole`` names a top-level problem."""
    first = exc.errors()[0]
    where = ".".join(str(p) if p != "" else '""' for p in first["loc"]) or whole
    return where, first["msg"]
