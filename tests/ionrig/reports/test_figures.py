"""Figures on synthetic data: files written, not blank, units on the axes, periods and ROIs."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from ionrig import analysis
from ionrig.reports import figures


def _saved_and_not_blank(figure: Figure, tmp_path, stem: str) -> None:
    """Save as PNG and SVG; the PNG must hold a real drawing, not a blank canvas."""
    png, svg = figures.save_figure(figure, tmp_path, stem)
    assert png == tmp_path / f"{stem}.png" and svg == tmp_path / f"{stem}.svg"
    assert svg.read_text().lstrip().startswith("<?xml")
    pixels = imread(png)[..., :3]
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600  # 150 dpi
    not_white = ~np.all(pixels > 0.97, axis=-1)
    assert not_white.mean() > 0.03, f"{stem}: only {not_white.mean():.1%} drawn"
    assert pixels.std() > 0.05


def _gids(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_ratio_timecourse_shades_and_names_each_solution_period(tmp_path):
    t_s = np.arange(0.0, 1200.0, 10.0)
    ratios = {f"cell{i}": 0.6 + 0.05 * i + 0.2 * (t_s > 400) for i in range(1, 4)}
    mg = {name: 1.9 * 5 * (r - 0.4) / (3.0 - r) for name, r in ratios.items()}
    periods = [(0, 400, "hbss"), (400, 900, "mg_k_aspartate"), (900, 1200, "hbss")]
    figure = figures.ratio_timecourse_figure(
        t_s, ratios, mg_free_mM_by_roi=mg, solution_periods=periods, title="uptake"
    )
    ax_ratio, ax_mg = figure.axes[:2]
    assert "(mM)" in ax_mg.get_ylabel() and "Mg" in ax_mg.get_ylabel()
    assert "F340/F380" in ax_ratio.get_ylabel()
    assert ax_mg.get_xlabel() == "time (min)"  # 20 min: drawn in minutes
    for ax in (ax_ratio, ax_mg):
        spans = _gids(ax, "solution_period")
        assert len(spans) == len(periods)
    labels = _gids(ax_ratio, "solution_label")
    assert [label.get_text() for label in labels] == [name for *_, name in periods]
    # the two hbss periods share a colour, the treatment has its own
    colours = [span.get_facecolor() for span in _gids(ax_ratio, "solution_period")]
    assert colours[0] == colours[2] != colours[1]
    # spans sit where the periods are, in minutes
    assert _gids(ax_ratio, "solution_period")[1].get_x() == pytest.approx(400 / 60)
    assert [line.get_label() for line in ax_ratio.get_lines()] == list(ratios)
    _saved_and_not_blank(figure, tmp_path, "ratio")


def test_ratio_timecourse_without_mg_has_one_panel_in_seconds(tmp_path):
    t_s = np.linspace(0.0, 60.0, 13)
    figure = figures.ratio_timecourse_figure(t_s, {"cell1": np.full(13, 0.8)})
    assert len(figure.axes) == 1
    assert figure.axes[0].get_xlabel() == "time (s)"
    assert _gids(figure.axes[0], "solution_period") == []
    _saved_and_not_blank(figure, tmp_path, "ratio1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratios_by_roi": {"cell1": np.zeros(3)}}, r"ratios_by_roi\['cell1'\] must have 5"),
        ({"ratios_by_roi": {}}, "ratios_by_roi must hold at least one ROI"),
        (
            {"ratios_by_roi": {"a": np.zeros(5)}, "mg_free_mM_by_roi": {"b": np.zeros(5)}},
            r"without a ratio: \['b'\]",
        ),
        (
            {"ratios_by_roi": {"a": np.zeros(5)}, "solution_periods": [(5, 1, "x")]},
            r"solution_periods\[0\] must have finite start_s <= stop_s",
        ),
    ],
)
def test_ratio_timecourse_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        figures.ratio_timecourse_figure(np.arange(5.0), **kwargs)


def test_roi_image_outlines_every_roi_where_its_mask_is(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.normal(120.0, 4.0, (96, 128))
    rois = {
        "cell1": {"shape": "circle", "x_px": 30.0, "y_px": 40.0, "radius_px": 7.0},
        "cell2": {"shape": "rectangle", "x_px": 70, "y_px": 20, "width_px": 18, "height_px": 11},
        "cell3": {"shape": "polygon", "vertices_px": [[80.3, 60.2], [110.7, 70.4], [95.1, 90.6]]},
    }
    for spec in rois.values():
        image[analysis.roi_mask(spec, image.shape)] += 250.0
    background = {"shape": "rectangle", "x_px": 0, "y_px": 80, "width_px": 16, "height_px": 16}
    figure = figures.roi_image_figure(image, rois, background_roi=background)
    ax = figure.axes[0]
    labels = _gids(ax, "roi_label")
    assert [label.get_text() for label in labels] == list(rois)
    outlines = _gids(ax, "roi_outline")
    assert len(outlines) == len(rois)
    assert len(_gids(ax, "background_outline")) == 1
    assert ax.get_xlabel() == "x (px)" and ax.get_ylabel() == "y (px)"
    assert "(ADU)" in figure.axes[1].get_ylabel()  # the colour bar
    # rectangle and polygon outlines enclose exactly the pixel centres of their masks
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    centres = np.column_stack([xx.ravel(), yy.ravel()])
    for outline, name in zip(outlines[1:], ["cell2", "cell3"], strict=True):
        path = outline.get_path().transformed(outline.get_patch_transform())
        inside = path.contains_points(centres).reshape(image.shape)
        np.testing.assert_array_equal(inside, analysis.roi_mask(rois[name], image.shape))
    # ROI k has the colour of trace k in the time course
    assert outlines[1].get_edgecolor()[:3] == pytest.approx(figures.roi_colour(1, 3)[:3])
    _saved_and_not_blank(figure, tmp_path, "rois")


def test_roi_image_numbers_a_plain_list_of_rois(tmp_path):
    image = np.zeros((40, 40))
    rois = [{"shape": "circle", "x_px": 10, "y_px": 10, "radius_px": 4}] * 2
    figure = figures.roi_image_figure(image, rois)
    assert [t.get_text() for t in _gids(figure.axes[0], "roi_label")] == ["1", "2"]
    with pytest.raises(ValueError, match="image_380 must be a 2-D image"):
        figures.roi_image_figure(np.zeros(5), rois)
    with pytest.raises(ValueError, match="ROI shape must be one of"):
        figures.roi_image_figure(image, {"a": {"shape": "star"}})


def _ramp_iv(scale: float) -> tuple[np.ndarray, np.ndarray]:
    voltage = np.linspace(-100.0, 100.0, 400)
    return voltage, scale * (np.exp(voltage / 25.0) - np.exp(-voltage / 60.0))


def test_iv_figure_draws_each_curve_in_pA_or_pA_per_pF(tmp_path):
    voltage, _ = _ramp_iv(1.0)
    currents = [_ramp_iv(s)[1] for s in (1.0, 5.0, 20.0)]
    figure = figures.iv_figure(voltage, currents, labels=["0 s", "60 s", "120 s"])
    ax = figure.axes[0]
    assert ax.get_xlabel() == "membrane potential (mV)" and ax.get_ylabel() == "current (pA)"
    drawn = [line for line in ax.get_lines() if line.get_label() in {"0 s", "60 s", "120 s"}]
    assert len(drawn) == 3
    assert np.max(drawn[-1].get_ydata()) == pytest.approx(np.max(currents[-1]))
    _saved_and_not_blank(figure, tmp_path, "iv")

    density = figures.iv_figure(voltage, np.vstack(currents), cm_pF=20.0)
    ax = density.axes[0]
    assert ax.get_ylabel() == "current density (pA/pF)"
    top = max(np.max(line.get_ydata()) for line in ax.get_lines() if line.get_label() == "curve 3")
    assert top == pytest.approx(np.max(currents[-1]) / 20.0)
    with pytest.raises(ValueError, match="cm_pF must be a capacitance > 0 pF"):
        figures.iv_figure(voltage, currents, cm_pF=0.0)
    with pytest.raises(ValueError, match="labels must name each of the 3 curves"):
        figures.iv_figure(voltage, currents, labels=["a"])


def test_iv_figure_keeps_a_transient_from_flattening_the_curve():
    voltage, current = _ramp_iv(5.0)
    current[:3] = -7000.0  # a capacitive spike at the ramp's start
    ax = figures.iv_figure(voltage, current).axes[0]
    low, high = ax.get_ylim()
    assert low > -1000.0 and high >= np.percentile(current, 99)
    assert any("clipped" in text.get_text() for text in ax.texts)


def test_runup_figure_with_fit(tmp_path):
    t_s = np.arange(0.0, 300.0, 2.0)
    outward = 10 + 200 * -np.expm1(-t_s / 80.0)
    inward = -2 - 20 * -np.expm1(-t_s / 80.0)
    fit = analysis.fit_run_up(t_s, outward)
    figure = figures.runup_figure(t_s, outward, inward, fit=fit)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "current at ±80 mV (pA)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:2] == ["+80 mV (outward)", "−80 mV (inward)"]
    assert legend[2] == f"run-up fit, t½ = {figures.format_number(80 * np.log(2))} s"
    fitted = ax.get_lines()[-1]
    np.testing.assert_allclose(fitted.get_ydata()[-1], outward[-1], rtol=1e-3)
    _saved_and_not_blank(figure, tmp_path, "runup")
    density = figures.runup_figure(t_s, outward, inward, cm_pF=25.0).axes[0]
    assert density.get_ylabel() == "current at ±80 mV (pA/pF)"
    with pytest.raises(ValueError, match="i_minus80_pA must have 150 values"):
        figures.runup_figure(t_s, outward, inward[:5])


def test_membrane_test_trend_leaves_out_non_finite_values(tmp_path):
    t_s = np.array([0.0, 60.0, 120.0, 300.0])
    figure = figures.membrane_test_trend_figure(
        t_s, [10.0, 11.0, 12.0, 15.0], [900.0, 850.0, np.inf, 800.0], [20.0, 20.5, 21.0, 20.2]
    )
    ra, rm, cm = figure.axes
    assert "(MΩ)" in ra.get_ylabel() and "(MΩ)" in rm.get_ylabel() and "(pF)" in cm.get_ylabel()
    assert cm.get_xlabel() == "time (s)"
    assert list(rm.get_lines()[0].get_ydata()) == [900.0, 850.0, 800.0]
    low, high = cm.get_ylim()  # a drift of 1 pF in 20 is not blown up to the full height
    assert high - low >= 0.2 * 20.5 * 0.99
    _saved_and_not_blank(figure, tmp_path, "membrane")


def test_seal_figure_on_a_log_axis_with_the_target(tmp_path):
    t_s = np.arange(100.0, 113.0, 0.5)
    seal = np.geomspace(0.01, 2.2, t_s.size)
    figure = figures.seal_figure(t_s, seal, target_GOhm=2.0)
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "seal resistance (GΩ)"
    assert "(s)" in ax.get_xlabel()
    assert ax.get_lines()[0].get_xdata()[0] == 0.0  # from the first seal test
    assert ax.get_lines()[1].get_ydata()[0] == 2.0
    _saved_and_not_blank(figure, tmp_path, "seal")


def test_sweeps_figure_with_its_command(tmp_path):
    time_ms = np.arange(1000) / 50.0
    command = np.r_[np.zeros(250), -5 * np.ones(500), np.zeros(250)]
    sweeps = np.vstack([np.r_[np.zeros(250), -300 * np.exp(-np.arange(750) / 20.0)]] * 3)
    figure = figures.sweeps_figure(time_ms, sweeps, command_mV=command)
    ax_command, ax = figure.axes
    assert ax_command.get_ylabel() == "command (mV)"
    assert ax.get_ylabel() == "current (pA)" and ax.get_xlabel() == "time in sweep (ms)"
    assert len(ax.get_lines()) == 4  # three sweeps and their mean
    _saved_and_not_blank(figure, tmp_path, "sweeps")


def test_dose_response_with_controls_band_and_ic50(tmp_path):
    rng = np.random.default_rng(3)
    concentration = np.repeat([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], 3)
    response = 1 / (1 + (concentration / 0.5) ** 1.2) + rng.normal(0, 0.03, concentration.size)
    fit = analysis.fit_hill(concentration, response)
    figure = figures.dose_response_figure(concentration, response, fit)
    ax_control, ax = figure.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "concentration (mM)"
    assert "fraction of control" in ax_control.get_ylabel()
    assert [t.get_text() for t in ax_control.get_xticklabels()] == ["0"]
    assert ax_control.get_lines()[0].get_ydata().size == 3  # the three controls
    ic50_lines = [line for line in ax.get_lines() if list(line.get_xdata()) == [fit.ic50] * 2]
    assert len(ic50_lines) == 1
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1
    assert any(f"IC50 = {fit.ic50:.3g} mM" in text.get_text() for text in ax.texts)
    _saved_and_not_blank(figure, tmp_path, "dose")

    positive = concentration > 0
    no_controls = figures.dose_response_figure(concentration[positive], response[positive], fit)
    assert len(no_controls.axes) == 1
    assert "fraction of control" in no_controls.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="fit must be a HillFit or BiphasicHillFit"):
        figures.dose_response_figure(concentration, response, fit=None)


def test_dose_response_of_a_biphasic_fit_names_both_ic50s(tmp_path):
    concentration = np.repeat([0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], 2)
    truth = analysis.BiphasicHillFit(0.01, 0.165, 0.5, 1.0, 1.0, 1.0, 0.0, (0, 0), (0, 0), True)
    response = truth.response(concentration)
    fit = analysis.fit_hill_biphasic(concentration, response + 0.01 * np.sin(np.arange(18)))
    figure = figures.dose_response_figure(concentration, response, fit)
    text = " ".join(t.get_text() for t in figure.axes[1].texts)
    assert "IC50₁" in text and "IC50₂" in text
    _saved_and_not_blank(figure, tmp_path, "biphasic")


def test_save_figure_refuses_a_stem_with_folders(tmp_path):
    figure = figures.seal_figure([0.0, 1.0], [0.1, 1.0])
    with pytest.raises(ValueError, match="stem must be a plain file name"):
        figures.save_figure(figure, tmp_path, "../escape")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2640.4, "2640"),
        (0.0123456, "0.0123"),
        (99.96, "100"),
        (9.005, "9.01"),
        (1.5e-5, "1.50e-05"),
    ],
)
def test_format_number(value, text):
    assert figures.format_number(value) == text


def test_figures_are_made_in_threads_without_pyplot():
    t_s = np.arange(0.0, 100.0, 5.0)

    def make(i: int) -> tuple[int, int]:
        figure = figures.ratio_timecourse_figure(t_s, {"c": np.sin(t_s / 10 + i)})
        figure.canvas.draw()
        return figure.canvas.get_width_height()

    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(pool.map(make, range(8)))
    assert len(set(sizes)) == 1
    code = "import sys, ionrig.reports.figures; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
