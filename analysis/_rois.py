"""Regions of interest: shapes, masks, and automatic cell and background detection.

An ROI is given as a mapping (as stored in start documents)::

    {"shape": "circle", "x_px": 40.5, "y_px": 22.0, "radius_px": 8.0}
    {"shape": "rectangle", "x_px": 0, "y_px": 100, "width_px": 30, "height_px": 20}
    {"shape": "polygon", "vertices_px": [[x0, y0], [x1, y1], ...]}

Coordinates are pixels: x is the column, y the row, of the image array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from ._validation import finite_array, positive_int, positive_number

__all__ = [
    "ROI_SHAPES",
    "CircleRoi",
    "PolygonRoi",
    "RectangleRoi",
    "Roi",
    "detect_background",
    "detect_cells",
    "roi_from_spec",
    "roi_mask",
]

ROI_SHAPES = ("circle", "rectangle", "polygon")


@dataclass(frozen=True)
class CircleRoi:
    x_px: float
    y_px: float
    radius_px: float

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "circle", **asdict(self)}


@dataclass(frozen=True)
class RectangleRoi:
    x_px: float
    y_px: float
    width_px: float
    height_px: float

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "rectangle", **asdict(self)}


@dataclass(frozen=True)
class PolygonRoi:
    vertices_px: tuple[tuple[float, float], ...]

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "polygon", "vertices_px": [list(v) for v in self.vertices_px]}


Roi = CircleRoi | RectangleRoi | PolygonRoi


def _number(spec: Mapping[str, Any], key: str, where: str, *, positive: bool = False) -> float:
    if key not in spec:
        raise ValueError(f"{where}: missing {key!r}")
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{where}: {key} must be > 0 px, got {value!r}")
    return float(value)


def roi_from_spec(spec: Mapping[str, Any] | Roi, *, name: str = "roi") -> Roi:
    """Parse an ROI mapping (or pass an ROI through); errors name the ROI and the field."""
    if isinstance(spec, CircleRoi | RectangleRoi | PolygonRoi):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"{name}: an ROI must be a mapping with a 'shape', got {spec!r}")
    shape = spec.get("shape")
    if shape not in ROI_SHAPES:
        raise ValueError(f"{name}: ROI shape must be one of {', '.join(ROI_SHAPES)}; got {shape!r}")
    allowed = {
        "circle": {"shape", "x_px", "y_px", "radius_px"},
        "rectangle": {"shape", "x_px", "y_px", "width_px", "height_px"},
        "polygon": {"shape", "vertices_px"},
    }[shape]
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(
            f"{name}: unknown key(s) {sorted(unknown)} for a {shape}; allowed: {sorted(allowed)}"
        )
    fields = ("x_px", "y_px", "radius_px", "width_px", "height_px", "vertices_px")
    required = [k for k in fields if k in allowed]
    missing = [k for k in required if k not in spec]
    if missing:
        raise ValueError(f"{name}: missing {missing[0]!r}; a {shape} ROI must have {required}")
    if shape == "circle":
        return CircleRoi(
            _number(spec, "x_px", name),
            _number(spec, "y_px", name),
            _number(spec, "radius_px", name, positive=True),
        )
    if shape == "rectangle":
        return RectangleRoi(
            _number(spec, "x_px", name),
            _number(spec, "y_px", name),
            _number(spec, "width_px", name, positive=True),
            _number(spec, "height_px", name, positive=True),
        )
    vertices = spec.get("vertices_px")
    try:
        array = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.zeros((0,))
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < 3 or not np.isfinite(array).all():
        raise ValueError(f"{name}: vertices_px must be at least 3 finite [x, y] pairs")
    return PolygonRoi(tuple((float(x), float(y)) for x, y in array))


def roi_mask(roi: Roi | Mapping[str, Any], shape: tuple[int, int], *, name: str = "roi"):
    """Boolean mask (rows, cols) of the pixels whose centres lie inside the ROI."""
    roi = roi_from_spec(roi, name=name)
    try:
        rows, cols = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (rows, cols), two integers >= 1, got {shape!r}") from None
    for n in (rows, cols):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"shape must be (rows, cols), two integers >= 1, got {shape!r}")
    yy, xx = np.mgrid[0:rows, 0:cols]
    if isinstance(roi, CircleRoi):
        return (xx - roi.x_px) ** 2 + (yy - roi.y_px) ** 2 <= roi.radius_px**2
    if isinstance(roi, RectangleRoi):
        return (
            (xx >= roi.x_px)
            & (xx < roi.x_px + roi.width_px)
            & (yy >= roi.y_px)
            & (yy < roi.y_px + roi.height_px)
        )
    # Even-odd rule, vectorised over pixels, one edge at a time.
    vx, vy = np.asarray(roi.vertices_px).T
    inside = np.zeros(shape, dtype=bool)
    for i in range(len(vx)):
        x0, y0, x1, y1 = vx[i - 1], vy[i - 1], vx[i], vy[i]
        crosses = (y0 > yy) != (y1 > yy)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (yy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xx < x_at)
    return inside


def _image(image: ArrayLike) -> NDArray[np.float64]:
    array = finite_array("image", image, ndim=2)
    if min(array.shape) < 4:
        raise ValueError(f"image must be a 2-D array of at least 4x4 pixels, got {array.shape}")
    return array


def detect_cells(
    image: ArrayLike,
    *,
    max_cells: int = 50,
    min_area_px: int = 12,
    threshold_sigma: float = 6.0,
) -> list[CircleRoi]:
    """Find bright cells on a (380-nm) image; one circle ROI per cell, brightest first.

    Pixels more than ``threshold_sigma`` robust standard deviations (median absolute
    deviation) above the image's median are foreground; connected components of at least
    ``min_area_px`` pixels are cells. Each circle sits at the component's centroid with the
    radius of a disc of equal area, shrunk by one pixel to stay clear of the edge.
    """
    array = _image(image)
    max_cells = positive_int("max_cells", max_cells)
    min_area_px = positive_int("min_area_px", min_area_px)
    threshold_sigma = positive_number("threshold_sigma", threshold_sigma)
    median = np.median(array)
    sigma = 1.4826 * np.median(np.abs(array - median)) or 1.0
    foreground = ndimage.binary_opening(array > median + threshold_sigma * sigma)
    labels, n = ndimage.label(foreground)
    found: list[tuple[float, CircleRoi]] = []
    for index in range(1, n + 1):
        component = labels == index
        area = int(component.sum())
        if area < min_area_px:
            continue
        y, x = ndimage.center_of_mass(component)
        radius = max(1.0, np.sqrt(area / np.pi) - 1.0)
        found.append((float(array[component].sum()), CircleRoi(float(x), float(y), radius)))
    found.sort(key=lambda item: -item[0])
    return [roi for _, roi in found[:max_cells]]


def detect_background(
    image: ArrayLike, cells: Sequence[Roi], *, size_px: int | None = None, clearance_px: int = 4
) -> RectangleRoi:
    """A background rectangle: the darkest square clear of every cell by ``clearance_px``."""
    array = _image(image)
    rows, cols = array.shape
    if isinstance(cells, str | Mapping) or not isinstance(cells, Sequence):
        raise ValueError(f"cells must be a list of ROIs (possibly empty), got {cells!r:.80}")
    size = max(4, min(rows, cols) // 8) if size_px is None else positive_int("size_px", size_px)
    if size > min(rows, cols):
        raise ValueError(
            f"size_px must be in [1, {min(rows, cols)}] (the image is {rows}x{cols}), got {size}"
        )
    clearance_px = positive_int("clearance_px", clearance_px, minimum=0)
    if clearance_px > max(rows, cols):
        raise ValueError(f"clearance_px must be in [0, {max(rows, cols)}], got {clearance_px}")
    occupied = np.zeros(array.shape, dtype=bool)
    for i, cell in enumerate(cells):
        occupied |= roi_mask(cell, array.shape, name=f"cells[{i}]")
    occupied = ndimage.binary_dilation(occupied, iterations=clearance_px) if cells else occupied
    best: tuple[float, RectangleRoi] | None = None
    step = max(1, size // 2)
    for y in range(0, rows - size + 1, step):
        for x in range(0, cols - size + 1, step):
            if occupied[y : y + size, x : x + size].any():
                continue
            mean = float(array[y : y + size, x : x + size].mean())
            if best is None or mean < best[0]:
                best = (mean, RectangleRoi(float(x), float(y), float(size), float(size)))
    if best is None:
        raise ValueError(
            f"no {size}x{size}-px background region clear of the cells by {clearance_px} px; "
            "give a background ROI (or a smaller size_px or clearance_px)"
        )
    return best[1]
