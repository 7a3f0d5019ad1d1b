"""Live camera preview outside runs, with ROI drawing, cell detection and ROI files.

::

    from ionrig.bench.preview import open_preview, load_rois
    window = open_preview(session)             # a matplotlib window (or `%matplotlib widget`)
    # drag on the image: a new circle ROI · right-click an ROI: select it · "delete" removes it
    # "detect" finds cells (ionrig.analysis.detect_cells) · "save" writes the file named below
    session.RE(ratiometric_timecourse(session.rig, 10, rois=load_rois("rois.yaml")))

An ROI file maps ROI names to ROI specs, the same dicts as the plans' ``rois`` parameter
(``{"shape": "circle", "x_px": …, "y_px": …, "radius_px": …}``, rectangles and polygons as in
docs/data-model.md), as YAML (``.yaml``/``.yml``) or JSON (``.json``).

:class:`PreviewController` holds the state and does the work (testable without a display);
:class:`PreviewWindow` wires it to a figure with matplotlib widgets. Devices are only touched
through the RunEngine: moves as bluesky plans run by ``RE`` (only while it is idle), and the
frame read in ``RE``'s event loop. The excitation shutter is open only while a frame is taken,
or while the live preview runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig import analysis
from ionrig.bench.loop import run_in_loop

__all__ = [
    "DETECTION_NM",
    "EXCITATION_CHOICES_NM",
    "PreviewBusy",
    "PreviewController",
    "PreviewWindow",
    "load_rois",
    "open_preview",
    "save_rois",
]

#: The excitation wavelengths the preview offers (nm).
EXCITATION_CHOICES_NM = (340, 380)
#: Cells are detected on frames at this excitation (nm), as in the plans.
DETECTION_NM = 380
_SUFFIXES = (".yaml", ".yml", ".json")
_WINDOW = "ionrig preview"
#: ROIs listed beside the image (the rest are counted).
_LISTED_ROIS = 18
#: ROI name the plans reserve for the background region.
_BACKGROUND = "background"


class PreviewBusy(RuntimeError):
    """The RunEngine is running a plan: the preview does not touch the rig meanwhile."""


def _check_suffix(path: Path, parameter: str) -> None:
    if path.suffix.lower() not in _SUFFIXES:
        raise ValueError(
            f"{parameter} must end in {', '.join(_SUFFIXES)} (YAML or JSON), got {str(path)!r}"
        )


def _specs(rois: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(rois, Mapping):
        raise ValueError(
            f"{where}: expected a mapping ROI name → ROI spec, got {type(rois).__name__}"
        )
    if not rois:
        raise ValueError(f"{where}: holds no ROI")
    specs = {}
    for name, spec in rois.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: ROI names must be non-empty text, got {name!r}")
        if name == _BACKGROUND:
            raise ValueError(
                f"{where}: the ROI name {_BACKGROUND!r} is reserved by the plans "
                "(give a background region as their background_roi)"
            )
        specs[name] = analysis.roi_from_spec(spec, name=f"{where}: {name}").to_spec()
    return specs


def load_rois(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """ROI specs by name from a YAML or JSON ROI file, checked, for a plan's ``rois``:
    ``ratiometric_timecourse(rig, 10, rois=load_rois("rois.yaml"))``."""
    import yaml

    path = Path(path)
    _check_suffix(path, "path")
    text = path.read_text(encoding="utf-8")
    try:
        content = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {error}") from None
    return _specs(content, str(path))


def save_rois(rois: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ROI specs (or ROIs) by name to a YAML or JSON file (by suffix); returns the path."""
    import yaml

    path = Path(path)
    _check_suffix(path, "path")
    specs = _specs(rois, "rois")
    if path.suffix.lower() == ".json":
        text = json.dumps(specs, indent=2) + "\n"
    else:
        text = yaml.safe_dump(specs, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


class PreviewController:
    """The camera preview's state and actions, without any figure.

    State: ``exposure_ms``, ``wavelength_nm`` (340 or 380), ``rois`` (name → ROI), ``frame``
    (the last frame, ADU) with its ``frame_nm``, and ``live`` (the shutter stays open between
    frames). Every device action refuses with :class:`PreviewBusy` while ``RE`` is not idle.
    """

    def __init__(
        self,
        RE: Any,
        rig: Any,
        *,
        exposure_ms: float | None = None,
        wavelength_nm: float = 380,
        timeout_s: float = 10.0,
    ) -> None:
        self.RE = RE
        self.rig = rig
        self.timeout_s = timeout_s
        self.rois: dict[str, analysis.Roi] = {}
        self.frame: NDArray[np.uint16] | None = None
        self.frame_nm: float | None = None
        self.live = False
        self.wavelength_nm = 380.0
        self.set_wavelength(wavelength_nm)
        if exposure_ms is None:
            self._ensure_idle()
            exposure_ms = run_in_loop(RE, rig.camera.exposure_ms.get_value(), timeout_s)
        self.exposure_ms = 20.0
        self.set_exposure(exposure_ms)

    # -- settings (applied at the next frame) -------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """The frame shape (rows, columns)."""
        return (self.rig.camera.height_px, self.rig.camera.width_px)

    def set_exposure(self, exposure_ms: float) -> None:
        """Exposure of the next frames (ms, 0 < exposure_ms <= 10000)."""
        value = float(exposure_ms)
        if not 0.0 < value <= 10_000.0:
            raise ValueError(f"exposure_ms must be in (0, 10000] ms, got {exposure_ms!r}")
        self.exposure_ms = value

    def set_wavelength(self, wavelength_nm: float) -> None:
        """Excitation of the next frames: 340 or 380 (nm), selected on the filter wheel."""
        if wavelength_nm not in EXCITATION_CHOICES_NM:
            allowed = " or ".join(str(nm) for nm in EXCITATION_CHOICES_NM)
            raise ValueError(f"wavelength_nm must be {allowed}, got {wavelength_nm!r}")
        self.rig.filter_wheel.resolve(wavelength_nm)  # the wheel must carry that filter
        self.wavelength_nm = float(wavelength_nm)

    # -- the rig, through the RunEngine -------------------------------------------------------
    def _ensure_idle(self) -> None:
        if self.RE.state != "idle":
            raise PreviewBusy(
                f"the RunEngine is {self.RE.state}: the preview waits until the plan has ended"
            )

    def _run(self, plan: Any) -> None:
        self._ensure_idle()
        self.RE(plan)

    def _prepare_plan(self, *, open_shutter: bool) -> Any:
        import bluesky.plan_stubs as bps

        rig = self.rig
        wheel, shutter = rig.filter_wheel, rig.filter_wheel.shutter
        filter_name = wheel.resolve(self.wavelength_nm)
        moves: list[Any] = [rig.camera.exposure_ms, self.exposure_ms]
        if (yield from bps.rd(wheel.filter)) != filter_name:
            moves += [wheel, filter_name]
        if open_shutter and _state((yield from bps.rd(shutter.state))) != "open":
            moves += [shutter, "open"]
        yield from bps.mv(*moves)

    def start(self) -> None:
        """Start the live preview: the shutter opens and stays open until :meth:`stop`."""
        self._run(self._prepare_plan(open_shutter=True))
        self.live = True

    def stop(self) -> None:
        """Stop the live preview and close the shutter (while a plan runs, the plan owns it)."""
        import bluesky.plan_stubs as bps

        self.live = False
        if self.RE.state == "idle":
            self._run(bps.mv(self.rig.filter_wheel.shutter, "closed"))

    def snap(self) -> NDArray[np.uint16]:
        """Take one frame at ``exposure_ms`` and ``wavelength_nm``; the shutter opens for it
        (or stays open while live). Returns the frame (rows, columns; ADU), also ``frame``."""
        import bluesky.plan_stubs as bps
        import bluesky.preprocessors as bpp

        camera, shutter = self.rig.camera, self.rig.filter_wheel.shutter
        taken: list[NDArray[np.uint16]] = []

        def take() -> Any:
            yield from self._prepare_plan(open_shutter=True)
            taken.append(np.asarray((yield from bps.rd(camera.preview_frame))))

        def close() -> Any:
            if not self.live:
                yield from bps.mv(shutter, "closed")

        self._run(bpp.finalize_wrapper(take(), close()))
        self.frame, self.frame_nm = taken[0], self.wavelength_nm
        return self.frame

    # -- ROIs ---------------------------------------------------------------------------------
    def _next_name(self) -> str:
        index = 1
        while f"cell{index}" in self.rois:
            index += 1
        return f"cell{index}"

    def add_circle(
        self, x_px: float, y_px: float, radius_px: float, name: str | None = None
    ) -> str:
        """Add a circle ROI (pixels: x the column, y the row); returns its name (``cellN`` by
        default). It must cover at least one pixel of the frame."""
        name = name or self._next_name()
        if name == _BACKGROUND:
            raise ValueError(f"name {_BACKGROUND!r} is reserved by the plans")
        roi = analysis.roi_from_spec(
            {"shape": "circle", "x_px": x_px, "y_px": y_px, "radius_px": radius_px}, name=name
        )
        if not analysis.roi_mask(roi, self.shape).any():
            raise ValueError(f"ROI {name!r} covers no pixel of the {self.shape} frame")
        self.rois[name] = roi
        return name

    def delete(self, name: str) -> None:
        """Remove the ROI ``name``."""
        if name not in self.rois:
            known = ", ".join(self.rois) or "none"
            raise ValueError(f"no ROI named {name!r} (the ROIs: {known})")
        del self.rois[name]

    def roi_at(self, x_px: float, y_px: float) -> str | None:
        """The name of the (last drawn) ROI containing the pixel nearest to (x, y), or None."""
        row, col = round(y_px), round(x_px)
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            return None
        for name in reversed(self.rois):
            if analysis.roi_mask(self.rois[name], self.shape)[row, col]:
                return name
        return None

    def detect(self, **options: Any) -> list[str]:
        """Replace the ROIs by the cells :func:`ionrig.analysis.detect_cells` finds (``options``
        go to it) on a 380-nm frame, as the plans do: the last frame if it was one, else a new
        one (the wavelength setting is kept). Names ``cell1``…, brightest first; returns them."""
        if self.frame is None or self.frame_nm != DETECTION_NM:
            chosen = self.wavelength_nm
            self.set_wavelength(DETECTION_NM)
            try:
                self.snap()
            finally:
                self.wavelength_nm = chosen
        found = analysis.detect_cells(self.frame, **options)
        self.rois = {f"cell{i + 1}": roi for i, roi in enumerate(found)}
        return list(self.rois)

    def roi_specs(self) -> dict[str, dict[str, Any]]:
        """The ROIs as specs by name (a plan's ``rois``)."""
        return {name: roi.to_spec() for name, roi in self.rois.items()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ROIs to a YAML or JSON file (by suffix) that :func:`load_rois` reads."""
        if not self.rois:
            raise ValueError("no ROIs to save: draw or detect some first")
        return save_rois(self.roi_specs(), path)

    def load(self, path: str | os.PathLike) -> list[str]:
        """Replace the ROIs by those of an ROI file; returns their names."""
        self.rois = {name: analysis.roi_from_spec(spec) for name, spec in load_rois(path).items()}
        return list(self.rois)


def _state(value: Any) -> str:
    return str(getattr(value, "value", value))


class PreviewWindow:
    """A matplotlib figure over a :class:`PreviewController`.

    Image with the ROIs; drag (left button) draws a circle from its centre; right-click selects
    the ROI under the pointer. Widgets: exposure slider (ms), 340/380 radio buttons, "live"
    (start/stop the timer-driven preview), "snap", "detect", "delete" (the selected ROI), the
    ROI file name and "save". Closing the window stops the preview and closes the shutter; so
    does opening another preview window.
    """

    _current: PreviewWindow | None = None

    def __init__(
        self,
        controller: PreviewController,
        *,
        interval_ms: int = 250,
        rois_path: str | os.PathLike = "rois.yaml",
        max_exposure_ms: float = 500.0,
    ) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.widgets import Button, EllipseSelector, RadioButtons, Slider, TextBox

        self.controller = controller
        self.selected: str | None = None
        if PreviewWindow._current is not None:  # one preview at a time
            PreviewWindow._current.close()
        PreviewWindow._current = self
        plt.close(_WINDOW)
        self.figure = plt.figure(_WINDOW, figsize=(10, 6.5))
        fig = self.figure
        self.ax = fig.add_axes((0.04, 0.2, 0.6, 0.74))
        rows, cols = controller.shape
        self.image = self.ax.imshow(np.zeros((rows, cols)), cmap="gray", vmin=0, vmax=1)
        self.ax.set_title("drag: new circle ROI · right-click: select")
        self._roi_artists: list[Any] = []

        exposure_max = max(max_exposure_ms, controller.exposure_ms)
        self.exposure = Slider(
            fig.add_axes((0.12, 0.08, 0.45, 0.04)),
            "exposure (ms)",
            1.0,
            exposure_max,
            valinit=controller.exposure_ms,
            valfmt="%.0f",
        )
        self.exposure.on_changed(self._on_exposure)
        labels = [f"{nm} nm" for nm in EXCITATION_CHOICES_NM]
        active = EXCITATION_CHOICES_NM.index(int(controller.wavelength_nm))
        self.wavelength = RadioButtons(fig.add_axes((0.7, 0.78, 0.12, 0.14)), labels, active=active)
        self.wavelength.on_clicked(self._on_wavelength)
        self.buttons: dict[str, Button] = {}
        for i, (label, handler) in enumerate(
            (
                ("live", self._on_live),
                ("snap", self._on_snap),
                ("detect", self._on_detect),
                ("delete", self._on_delete),
                ("save", self._on_save),
            )
        ):
            button = Button(fig.add_axes((0.84, 0.86 - 0.07 * i, 0.12, 0.05)), label)
            button.on_clicked(handler)
            self.buttons[label] = button
        self.path = TextBox(
            fig.add_axes((0.76, 0.45, 0.2, 0.05)), "ROI file ", initial=str(rois_path)
        )
        self.roi_list = fig.text(0.7, 0.42, "", va="top", family="monospace", fontsize=9)
        self.status = fig.text(0.04, 0.015, "", fontsize=9)

        self.selector = EllipseSelector(
            self.ax, self._on_drawn, button=[1], minspanx=1.0, minspany=1.0, interactive=False
        )
        self.selector.add_state("center")
        self.selector.add_state("square")
        self._click = fig.canvas.mpl_connect("button_press_event", self._on_press)
        fig.canvas.mpl_connect("close_event", self._on_close)
        self.timer = fig.canvas.new_timer(interval=interval_ms)
        self.timer.add_callback(self.tick)
        self.refresh()

    # -- display --------------------------------------------------------------------------------
    def show_frame(self, frame: NDArray[np.uint16]) -> None:
        low, high = np.percentile(frame, (0.5, 99.8))
        self.image.set_data(frame)
        self.image.set_clim(float(low), float(max(high, low + 1)))

    def refresh(self, message: str | None = None) -> None:
        """Redraw the ROIs, the ROI list and the status line."""
        from matplotlib.patches import Circle, Polygon, Rectangle

        for artist in self._roi_artists:
            artist.remove()
        self._roi_artists = []
        for name, roi in self.controller.rois.items():
            color = "yellow" if name == self.selected else "tab:cyan"
            if isinstance(roi, analysis.CircleRoi):
                patch = Circle((roi.x_px, roi.y_px), roi.radius_px, fill=False, color=color)
                anchor = (roi.x_px, roi.y_px - roi.radius_px)
            elif isinstance(roi, analysis.RectangleRoi):
                patch = Rectangle(
                    (roi.x_px - 0.5, roi.y_px - 0.5),
                    roi.width_px,
                    roi.height_px,
                    fill=False,
                    color=color,
                )
                anchor = (roi.x_px, roi.y_px)
            else:
                patch = Polygon(np.asarray(roi.vertices_px), closed=True, fill=False, color=color)
                anchor = roi.vertices_px[0]
            self.ax.add_patch(patch)
            label = self.ax.text(*anchor, name, color=color, fontsize=8, ha="center", va="bottom")
            self._roi_artists += [patch, label]
        lines = [
            f"{'>' if name == self.selected else ' '} {name}: {_describe(roi)}"
            for name, roi in self.controller.rois.items()
        ]
        if len(lines) > _LISTED_ROIS:
            lines = [*lines[:_LISTED_ROIS], f"  … and {len(lines) - _LISTED_ROIS} more"]
        self.roi_list.set_text("ROIs\n" + ("\n".join(lines) if lines else "  (none)"))
        c = self.controller
        state = "live" if c.live else "stopped"
        self.status.set_text(
            message
            or f"{state} · {c.wavelength_nm:g} nm · {c.exposure_ms:g} ms · {len(c.rois)} ROIs"
        )
        self.figure.canvas.draw_idle()

    # -- actions ---------------------------------------------------------------------------------
    def _guard(self, action: Any) -> Any:
        try:
            return action()
        except PreviewBusy as busy:
            self.refresh(f"paused: {busy}")
        except (ValueError, RuntimeError) as error:
            self.refresh(f"error: {error}")
        return None

    def tick(self) -> None:
        """One frame of the live preview (the timer's callback)."""
        frame = self._guard(self.controller.snap)
        if frame is not None:
            self.show_frame(frame)
            self.refresh()

    def _on_exposure(self, value: float) -> None:
        self._guard(lambda: self.controller.set_exposure(value))
        self.refresh()

    def _on_wavelength(self, label: str | None) -> None:
        if label is not None:
            self._guard(lambda: self.controller.set_wavelength(int(label.split()[0])))
            self.refresh()

    def _on_live(self, event: Any = None) -> None:
        if self.controller.live:
            self.timer.stop()
            self._guard(self.controller.stop)
            self.refresh()
        else:
            self._guard(self.controller.start)
            if self.controller.live:
                self.timer.start()
                self.tick()

    def _on_snap(self, event: Any = None) -> None:
        self.tick()

    def _on_detect(self, event: Any = None) -> None:
        names = self._guard(self.controller.detect)
        if names is not None:
            self.selected = None
            if self.controller.frame is not None:
                self.show_frame(self.controller.frame)
            self.refresh(f"detected {len(names)} cells" if names else "no cells detected")

    def _on_delete(self, event: Any = None) -> None:
        if self.selected is None:
            self.refresh("select an ROI first (right-click it)")
            return
        self._guard(lambda: self.controller.delete(self.selected))
        self.selected = None
        self.refresh()

    def _on_save(self, event: Any = None) -> None:
        path = self._guard(lambda: self.controller.save(self.path.text.strip()))
        if path is not None:
            self.refresh(f"saved {len(self.controller.rois)} ROIs to {path}")

    def _on_drawn(self, press: Any, release: Any) -> None:
        """A drag finished: the selector reports the square's corners; add the circle."""
        x0, y0, x1, y1 = press.xdata, press.ydata, release.xdata, release.ydata
        if None in (x0, y0, x1, y1):
            return
        radius = max(abs(x1 - x0), abs(y1 - y0)) / 2.0
        name = self._guard(
            lambda: self.controller.add_circle((x0 + x1) / 2.0, (y0 + y1) / 2.0, radius)
        )
        if name is not None:
            self.selected = name
            self.refresh()

    def _on_press(self, event: Any) -> None:
        if event.inaxes is not self.ax or event.button != 3 or event.xdata is None:
            return
        self.selected = self.controller.roi_at(event.xdata, event.ydata)
        self.refresh()

    def _on_close(self, event: Any = None) -> None:
        self.timer.stop()
        if self.controller.live:
            self._guard(self.controller.stop)
        if PreviewWindow._current is self:
            PreviewWindow._current = None

    def close(self) -> None:
        """Stop the preview (the shutter closes) and close the window."""
        import matplotlib.pyplot as plt

        self._on_close()
        plt.close(self.figure)


def _describe(roi: analysis.Roi) -> str:
    if isinstance(roi, analysis.CircleRoi):
        return f"circle ({roi.x_px:.1f}, {roi.y_px:.1f}) r {roi.radius_px:.1f} px"
    if isinstance(roi, analysis.RectangleRoi):
        return f"rect ({roi.x_px:g}, {roi.y_px:g}) {roi.width_px:g}×{roi.height_px:g} px"
    return f"polygon, {len(roi.vertices_px)} vertices"


def open_preview(session: Any, **options: Any) -> PreviewWindow:
    """Open the preview window on a session's rig (``options`` go to :class:`PreviewWindow`:
    ``interval_ms``, ``rois_path``, ``max_exposure_ms``) and show it without blocking."""
    import matplotlib.pyplot as plt

    window = PreviewWindow(PreviewController(session.RE, session.rig), **options)
    window.tick()
    plt.show(block=False)
    return window
