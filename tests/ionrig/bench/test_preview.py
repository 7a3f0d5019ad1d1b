"""ionrig.bench.preview: the preview controller on the simulated rig, ROI files, and the figure
wired headless (Agg)."""

from __future__ import annotations

import json

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from matplotlib.testing.widgets import click_and_drag

from ionrig.bench.loop import run_in_loop
from ionrig.bench.preview import PreviewBusy, PreviewController, PreviewWindow, load_rois, save_rois
from ionrig.plans import ratiometric_timecourse

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _value(session, signal):
    return run_in_loop(session.RE, signal.get_value(), timeout_s=10)


def _shutter(session) -> str:
    return _value(session, session.rig.filter_wheel.shutter.state).value


def _nearest_cell(session, roi):
    return min(
        session.rig.world.cells, key=lambda c: np.hypot(c.x_px - roi.x_px, c.y_px - roi.y_px)
    )


def test_snap_applies_exposure_and_wavelength_and_closes_the_shutter(session):
    controller = PreviewController(session.RE, session.rig)
    assert controller.exposure_ms == 20.0  # the camera's
    assert controller.wavelength_nm == 380.0
    frame_20 = controller.snap()
    assert frame_20.shape == (128, 128) and frame_20.dtype == np.uint16
    assert _shutter(session) == "closed"
    assert _value(session, session.rig.filter_wheel.filter) == "380"
    controller.set_exposure(80)
    frame_80 = controller.snap()
    assert _value(session, session.rig.camera.exposure_ms) == 80.0
    # brighter above the camera offset: about 4x the light
    gain = (np.percentile(frame_80, 99) - 100) / (np.percentile(frame_20, 99) - 100)
    assert 2.5 < gain < 6
    controller.set_wavelength(340)
    controller.snap()
    assert _value(session, session.rig.filter_wheel.filter) == "340"
    assert _shutter(session) == "closed"
    assert controller.frame is not None


def test_live_preview_keeps_the_shutter_open_only_while_live(session):
    controller = PreviewController(session.RE, session.rig)
    controller.start()
    assert controller.live and _shutter(session) == "open"
    controller.snap()
    assert _shutter(session) == "open"
    controller.stop()
    assert not controller.live and _shutter(session) == "closed"


def test_the_preview_does_not_touch_the_rig_while_a_plan_runs(session):
    controller = PreviewController(session.RE, session.rig)
    refused: list[Exception] = []

    def during_run(name, doc):
        if name == "start":
            for action in (controller.snap, controller.start):
                try:
                    action()
                except PreviewBusy as busy:
                    refused.append(busy)

    session.RE.subscribe(during_run)
    session.RE(ratiometric_timecourse(session.rig, 1))
    assert len(refused) == 2
    assert "RunEngine is running" in str(refused[0])
    assert not controller.live


def test_rois_detect_add_select_delete_and_bad_input(session):
    controller = PreviewController(session.RE, session.rig, exposure_ms=20)
    names = controller.detect()
    cells = session.rig.world.cells
    assert names == [f"cell{i + 1}" for i in range(len(cells))]
    for roi in controller.rois.values():  # each detected circle sits on a true cell
        cell = _nearest_cell(session, roi)
        assert np.hypot(cell.x_px - roi.x_px, cell.y_px - roi.y_px) < 2.0
    first = controller.rois["cell1"]
    assert controller.roi_at(first.x_px, first.y_px) == "cell1"
    assert controller.add_circle(3, 3, 2) == f"cell{len(cells) + 1}"
    controller.delete("cell2")
    assert "cell2" not in controller.rois
    assert controller.add_circle(10, 120, 3) == "cell2"  # the free name is reused
    assert controller.roi_at(64, 64) in (None, *controller.rois)
    with pytest.raises(ValueError, match="covers no pixel"):
        controller.add_circle(-50, -50, 3)
    with pytest.raises(ValueError, match="no ROI named 'cell99'"):
        controller.delete("cell99")
    with pytest.raises(ValueError, match="wavelength_nm must be 340 or 380"):
        controller.set_wavelength(360)
    with pytest.raises(ValueError, match="exposure_ms must be in"):
        controller.set_exposure(0)
    with pytest.raises(ValueError, match="reserved"):
        controller.add_circle(50, 50, 3, name="background")


def test_saved_rois_load_back_and_drive_the_next_run(session, tmp_path, docs):
    controller = PreviewController(session.RE, session.rig, exposure_ms=20)
    controller.add_circle(40.5, 30.0, 6.0)
    controller.add_circle(90.0, 70.0, 5.0, name="dim")
    expected = {
        "cell1": {"shape": "circle", "x_px": 40.5, "y_px": 30.0, "radius_px": 6.0},
        "dim": {"shape": "circle", "x_px": 90.0, "y_px": 70.0, "radius_px": 5.0},
    }
    yaml_path = controller.save(tmp_path / "rois.yaml")
    json_path = controller.save(tmp_path / "rois.json")
    assert load_rois(yaml_path) == expected
    assert json.loads(json_path.read_text()) == expected == load_rois(json_path)
    other = PreviewController(session.RE, session.rig, exposure_ms=20)
    assert other.load(yaml_path) == ["cell1", "dim"]
    assert other.roi_specs() == expected

    session.RE.subscribe(docs)
    session.RE(ratiometric_timecourse(session.rig, 1, rois=load_rois(yaml_path)))
    (start,) = docs.of("start")
    assert start["rois"] == expected


def test_roi_files_are_checked(session, tmp_path):
    controller = PreviewController(session.RE, session.rig, exposure_ms=20)
    with pytest.raises(ValueError, match="no ROIs to save"):
        controller.save(tmp_path / "rois.yaml")
    with pytest.raises(ValueError, match=r"path must end in \.yaml, \.yml, \.json"):
        save_rois({"a": {"shape": "circle", "x_px": 1, "y_px": 1, "radius_px": 1}}, "r.txt")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cell1: {shape: circle, x_px: 10, y_px: 10}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: cell1: missing 'radius_px'"):
        load_rois(bad)
    reserved = tmp_path / "reserved.json"
    reserved.write_text(
        '{"background": {"shape": "rectangle", "x_px": 0, "y_px": 0, '
        '"width_px": 5, "height_px": 5}}'
    )
    with pytest.raises(ValueError, match="'background' is reserved"):
        load_rois(reserved)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- {shape: circle, x_px: 10, y_px: 10, radius_px: 3}\n")
    with pytest.raises(ValueError, match="expected a mapping ROI name"):
        load_rois(listed)


def _click(ax, xy, button=1):
    MouseEvent._from_ax_coords("button_press_event", ax, xy, button)._process()
    MouseEvent._from_ax_coords("button_release_event", ax, xy, button)._process()


def test_preview_window_wires_its_widgets_headless(session, tmp_path):
    controller = PreviewController(session.RE, session.rig)
    window = PreviewWindow(controller, rois_path=tmp_path / "drawn.yaml")
    window.figure.canvas.draw()

    window.exposure.set_val(35)
    assert controller.exposure_ms == 35.0
    window.wavelength.set_active(0)
    assert controller.wavelength_nm == 340.0
    _click(window.buttons["snap"].ax, (0.5, 0.5))
    assert controller.frame is not None
    np.testing.assert_array_equal(window.image.get_array(), controller.frame)
    assert _value(session, session.rig.camera.exposure_ms) == 35.0
    assert _value(session, session.rig.filter_wheel.filter) == "340"

    click_and_drag(window.selector, start=(60, 50), end=(68, 58))  # drawn from its centre
    (name,) = controller.rois
    roi = controller.rois[name]
    assert (roi.x_px, roi.y_px) == pytest.approx((60, 50), abs=0.5)
    assert roi.radius_px == pytest.approx(8, abs=0.5)
    _click(window.ax, (10, 10), button=3)
    assert window.selected is None
    _click(window.ax, (61, 51), button=3)
    assert window.selected == name
    assert name in window.roi_list.get_text()

    _click(window.buttons["save"].ax, (0.5, 0.5))
    assert load_rois(tmp_path / "drawn.yaml") == {name: roi.to_spec()}
    _click(window.buttons["delete"].ax, (0.5, 0.5))
    assert controller.rois == {}
    _click(window.buttons["detect"].ax, (0.5, 0.5))  # on a 380-nm frame, as the plans
    assert len(controller.rois) == len(session.rig.world.cells)
    assert controller.frame_nm == 380.0 and controller.wavelength_nm == 340.0

    _click(window.buttons["live"].ax, (0.5, 0.5))
    assert controller.live and _shutter(session) == "open"
    window.tick()  # what the timer calls
    _click(window.buttons["live"].ax, (0.5, 0.5))
    assert not controller.live and _shutter(session) == "closed"
    window.figure.canvas.draw()
    _click(window.buttons["live"].ax, (0.5, 0.5))
    assert _shutter(session) == "open"
    window.close()
    assert not controller.live and _shutter(session) == "closed"

    first = PreviewWindow(controller)
    _click(first.buttons["live"].ax, (0.5, 0.5))
    assert _shutter(session) == "open"
    second = PreviewWindow(PreviewController(session.RE, session.rig))  # replaces the first
    assert not controller.live and _shutter(session) == "closed"
    assert second.figure is not first.figure
    assert matplotlib.pyplot.get_figlabels().count("ionrig preview") == 1
    second.figure.canvas.draw()
