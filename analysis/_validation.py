"""Input checks shared by the analysis functions.

Every failure is a ``ValueError`` whose message names the parameter and the allowed values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "finite_array",
    "finite_number",
    "finite_pair",
    "flag",
    "positive_int",
    "positive_number",
    "require_calibration",
    "require_same_shape",
]


def finite_array(
    name: str, value: ArrayLike, *, ndim: int | tuple[int, ...] | None = None, min_size: int = 1
) -> NDArray[np.float64]:
    """``value`` as a float64 array with only finite entries, of the given ``ndim``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r:.80}") from err
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            wanted = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {wanted}, got shape {array.shape}")
    if array.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} element(s), got {array.size}")
    if not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "inf"
        raise ValueError(f"{name} contains {bad}; allowed values are finite real numbers")
    return array


def finite_number(name: str, value: Any) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return number


def finite_pair(name: str, value: Any) -> tuple[float, float]:
    """``value`` as two finite floats (a range or a pair of voltages)."""
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be two finite numbers, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be two finite numbers, got {value!r}")
    return finite_number(f"{name}[0]", items[0]), finite_number(f"{name}[1]", items[1])


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool; anything but True or False is refused (a string is not a flag)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def positive_number(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float that is > 0 (or >= 0 with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    number = float(value)
    ok = math.isfinite(number) and (number >= 0 if allow_zero else number > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_same_shape(**arrays: NDArray[np.float64]) -> None:
    """All arrays share one shape; the message lists every name with its shape."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes must match: {listed}")


def require_calibration(r_min: Any, r_max: Any, kd: Any, beta: Any, *, kd_name: str = "kd") -> None:
    """Grynkiewicz constants: finite ``r_min < r_max``, ``kd > 0``, ``beta > 0``."""
    finite_number("r_min", r_min)
    finite_number("r_max", r_max)
    if not r_max > r_min:
        raise ValueError(
            f"r_max must be greater than r_min (allowed: r_max > r_min), "
            f"got r_min={r_min!r}, r_max={r_max!r}"
        )
    positive_number(kd_name, kd)
    positive_number("beta", beta)
