"""The JSON form of a plain record: its fields in order, tuples as lists."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["record_json"]


def record_json(record: Any) -> dict[str, Any]:
    """``{field: value}`` for each field of the dataclass ``record``, in order; tuples as lists.

    For records whose JSON form is exactly their fields (no renamed keys, no computed ones).
    """
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
