"""What a report is made of: tables, images and notes per run, the writer that saves figures
into the report folder, and numbers as the report prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from numpy.typing import NDArray

from ionrig.reports import figures

__all__ = ["Content", "Image", "ReportWriter", "Table", "fmt"]


@dataclass(frozen=True)
class Table:
    """A table: its caption, column headers and rows of text."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    """A saved figure: PNG and SVG file names (in the report folder) and its caption."""

    png: str
    svg: str
    caption: str


@dataclass
class Content:
    """What one run (or the cross-run trend) contributes besides its metadata."""

    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ReportWriter:
    """Saves figures into the report folder under per-run stems; remembers each membrane
    test's results (uid → stream arrays) for the trend across runs."""

    def __init__(self, out_dir: Path, catalog: Any = None) -> None:
        self.out_dir = out_dir
        self.catalog = catalog
        self.membrane_tests: dict[str, dict[str, NDArray[Any]]] = {}

    def add(self, content: Content, figure: Figure, stem: str, caption: str) -> None:
        """Save ``figure`` as ``<stem>.png`` and ``.svg`` and add it to ``content``."""
        png, svg = figures.save_figure(figure, self.out_dir, stem)
        content.images.append(Image(png.name, svg.name, caption))


# -- numbers ---------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; non-finite values as such."""
    return figures.format_number(None if value is None else float(value), digits)
