"""Analysis: numpy/scipy only, arrays in, numbers and small frozen dataclasses out."""

from ._ratiometry import ion_concentration, ratio

__all__ = ["ion_concentration", "ratio"]
