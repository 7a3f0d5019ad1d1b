"""Plan parameters on the command line: ``KEY=VALUE`` items, read the same way by ``ionrig run``
and ``ionrig queue add``.

A value is a Python literal when it parses as one (read with :func:`ast.literal_eval`): numbers
(``n_pairs=10``, ``exposure_ms=12.5``), ``None``, ``True``/``False``, lists, tuples, dicts
(``rois=[[64, 64, 8]]``, ``md={'cell': 'c1'}``) and quoted strings (``quoted='42'`` is the text
42); anything else is taken as text (``solution=hbss``, ``note=two words``), and an empty value
is the empty text.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["parse_key_values", "parse_value"]


def parse_value(text: str) -> Any:
    """A Python literal (number, string, list, dict, tuple, bool, None) or the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_key_values(
    items: Sequence[str],
    *,
    reserved: Mapping[str, str] | None = None,
    error: type[Exception] = ValueError,
) -> dict[str, Any]:
    """``["n_pairs=2", "solution=hbss"]`` → ``{"n_pairs": 2, "solution": "hbss"}``.

    Values as :func:`parse_value` reads them. Raises ``error`` for an item without ``=``, a key
    that is not a Python name, a repeated key, or a key of ``reserved`` (key → why it cannot be
    given).
    """
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise error(f"expected KEY=VALUE, got {item!r} (e.g. n_pairs=10 solution=hbss)")
        if not key.isidentifier():
            raise error(f"{key!r} in {item!r} is not a parameter name")
        if reserved and key in reserved:
            raise error(reserved[key])
        if key in values:
            raise error(f"{key} is given twice")
        values[key] = parse_value(text)
    return values
