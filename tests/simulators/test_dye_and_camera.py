"""Mag-fura-2 and the camera: Grynkiewicz inversion, propagated noise, bleaching, Ca²⁺, sensor.

Closed forms: docs/reference/physiology.md §1.1 (Grynkiewicz), §1.2 (forward model and noise),
§3.3 (Ca²⁺ confounder: [Mg]apparent = [Mg] + [Ca]·KMg/KCa).
"""

import numpy as np
import pytest

from ionrig.analysis import ion_concentration, ratiometric_estimate
from ionrig.simulators import (
    CameraSensor,
    Cell,
    DyeHandlingConfig,
    MagFura2,
    OpticsConfig,
    SteppedClock,
    World,
)

SHAPE = (48, 64)


def make_world(cells, seed=0, **kwargs):
    sensor = kwargs.pop("sensor", CameraSensor(width_px=64, height_px=48))
    clock = SteppedClock()
    return World(cells=cells, sensor=sensor, clock=clock, seed=seed, **kwargs), clock


def disc(cx, cy, r, shape=SHAPE):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


BACKGROUND = np.zeros(SHAPE, bool)
BACKGROUND[38:, :] = True


def noiseless_ratio(world, mask, t340=20.0, t380=10.0):
    world.shutter_open = True
    out = {}
    for wl, t in ((340, t340), (380, t380)):
        world.excitation_nm = wl
        image = world.expected_photoelectrons(t)
        out[wl] = (image[mask].mean() - image[BACKGROUND].mean()) / t
    return out[340] / out[380]


@pytest.mark.parametrize("mg", [0.2, 0.5, 0.8, 1.1, 3.0])
def test_noiseless_ratio_inverts_to_the_true_mg(mg):
    cells = [Cell(20, 16, 8, mg_free_mM=mg, ca_free_uM=0.0)]
    world, _ = make_world(cells)
    k = world.calibration_truth
    r = noiseless_ratio(world, disc(20, 16, 6))
    measured = ion_concentration(
        r, r_min=k["r_min"], r_max=k["r_max"], kd=k["kd_mM"], beta=k["beta"]
    )
    assert measured == pytest.approx(world.cells[0].mg_free_mM, rel=0.01)
    assert measured == pytest.approx(mg, rel=1e-9)  # exact without Ca²⁺ (and at rest)


@pytest.mark.parametrize(("ca_uM", "error_mM"), [(0.1, 0.0076), (1.0, 0.076), (10.0, 0.76)])
def test_calcium_is_read_as_magnesium(ca_uM, error_mM):
    """§3.3: an Mg-only analysis reports [Mg] + [Ca]·KMg/KCa (≈ +76·[Ca])."""
    world, _ = make_world([Cell(20, 16, 8, mg_free_mM=0.8, ca_free_uM=ca_uM)])
    k = world.calibration_truth
    r = noiseless_ratio(world, disc(20, 16, 6))
    apparent = ion_concentration(
        r, r_min=k["r_min"], r_max=k["r_max"], kd=k["kd_mM"], beta=k["beta"]
    )
    assert apparent - 0.8 == pytest.approx(error_mM, rel=1e-6)


def test_in_cell_kd_differs_from_the_assumed_one():
    """§2: true Kd 5.3 mM, analysis assumes 1.9 mM: the reported [Mg] is ~2.8x too low."""
    dye = MagFura2(kd_mM=5.3)
    world, _ = make_world([Cell(20, 16, 8, mg_free_mM=0.8, ca_free_uM=0.0)], dye=dye)
    r = noiseless_ratio(world, disc(20, 16, 6))
    reported = ion_concentration(r, r_min=0.4, r_max=3.0, kd=1.9, beta=5.0)
    assert 0.8 / reported == pytest.approx(5.3 / 1.9, rel=1e-9)


def test_spectra_give_rmin_rmax_and_beta():
    dye = MagFura2()
    assert dye.excitation_free(340) / dye.excitation_free(380) == pytest.approx(dye.r_min)
    assert dye.excitation_bound(340) / dye.excitation_bound(380) == pytest.approx(dye.r_max)
    assert dye.excitation_free(380) / dye.excitation_bound(380) == pytest.approx(dye.beta)
    # peaks where §2 puts them; the ratio at a saturating Mg tends to Rmax
    free = [dye.excitation_free(w) for w in range(340, 400)]
    bound = [dye.excitation_bound(w) for w in range(300, 360)]
    assert 340 + int(np.argmax(free)) == 369 and 300 + int(np.argmax(bound)) == 330
    assert dye.ratio(1e6) == pytest.approx(dye.r_max, rel=1e-4)
    assert dye.ratio(0.0) == pytest.approx(dye.r_min)


def test_noisy_ratios_scatter_as_the_propagated_error_says():
    cells = [Cell(22, 18, 10, mg_free_mM=0.8, ca_free_uM=0.0)]
    world, clock = make_world(cells, seed=4, dye_handling=DyeHandlingConfig(bleach_per_pair=0.0))
    sensor, k = world.sensor, world.calibration_truth
    cell_mask, bg_mask = disc(22, 18, 8), BACKGROUND
    sums = {340: [], 380: []}
    world.shutter_open = True
    for _ in range(60):
        for wl, t in ((340, 20.0), (380, 10.0)):  # §5: T340 = 2·T380
            world.excitation_nm = wl
            frame = world.render_frame(t).astype(float) - sensor.offset_adu  # known offset
            sums[wl].append((frame[cell_mask].sum(), frame[bg_mask].sum()))
            clock.advance_s(0.1)
    s340, s380 = np.array(sums[340]), np.array(sums[380])
    est = ratiometric_estimate(
        s340[:, 0],
        s340[:, 1],
        s380[:, 0],
        s380[:, 1],
        n_cell_px=int(cell_mask.sum()),
        n_bg_px=int(bg_mask.sum()),
        exposure340_ms=20.0,
        exposure380_ms=10.0,
        gain_adu_per_e=sensor.gain_adu_per_e,
        read_noise_e=sensor.read_noise_e,
        r_min=k["r_min"],
        r_max=k["r_max"],
        kd=k["kd_mM"],
        beta=k["beta"],
    )
    truth = world.cells[0].mg_free_mM
    z = (est.concentration - truth) / est.concentration_se
    assert np.all(np.abs(z) < 4.5)
    assert np.std(est.concentration) / np.mean(est.concentration_se) == pytest.approx(1.0, abs=0.25)
    assert abs(np.mean(z)) < 4 / np.sqrt(z.size) * 1.5


def test_bleaching_lowers_both_wavelengths_but_not_the_ratio():
    world, _ = make_world([Cell(20, 16, 8, mg_free_mM=0.8)])
    mask = disc(20, 16, 6)
    first = noiseless_ratio(world, mask)
    f380_before = world.expected_photoelectrons(10.0)[mask].mean()
    dye_before = world.cells[0].dye_uM
    world.excitation_nm = 340
    for _ in range(150):  # 150 pairs at reference intensity: 1 % per pair (§4)
        world.excitation_nm = 340
        world.render_frame(20.0)
        world.excitation_nm = 380
        world.render_frame(10.0)
    assert world.cells[0].dye_uM / dye_before == pytest.approx(0.99**150, rel=1e-9)
    f380_after = world.expected_photoelectrons(10.0)[mask].mean()
    background = world.expected_photoelectrons(10.0)[BACKGROUND].mean()
    assert (f380_after - background) / (f380_before - background) == pytest.approx(
        0.99**150, rel=0.01
    )
    assert noiseless_ratio(world, mask) == pytest.approx(first, rel=1e-3)


def test_shutter_closed_or_unknown_wavelength_gives_only_dark_signal():
    world, _ = make_world([Cell(20, 16, 8)])
    world.excitation_nm, world.shutter_open = 380, False
    assert not world.expected_photoelectrons(20.0).any()
    world.excitation_nm, world.shutter_open = 450, True  # not a lamp line of this rig
    assert not world.expected_photoelectrons(20.0).any()
    world.excitation_nm = 380
    image = world.expected_photoelectrons(20.0)
    assert image[16, 20] > 5 * image[40, 5] > 0


def test_same_seed_same_frames_other_seed_other_noise_and_sweeps_leave_frames_alone():
    def frames(seed, sweep=False):
        world, clock = make_world([Cell(20, 16, 8)], seed=seed)
        world.excitation_nm, world.shutter_open = 380, True
        out = []
        for _ in range(3):
            out.append(world.render_frame(20.0))
            if sweep:
                world.patch.record_sweep(np.zeros(100), 10_000)
            else:
                clock.advance_s(100 / 10_000)
        return np.array(out)

    first, again, other = frames(1), frames(1), frames(2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first, frames(1, sweep=True))  # one generator per source


def test_binning_roi_and_saturation():
    cells = [Cell(32, 24, 10, dye_uM=50.0)]
    binned = CameraSensor(width_px=64, height_px=48, binning=2, roi_px=(16, 8, 32, 32))
    world, _ = make_world(cells, sensor=binned, dye_handling=DyeHandlingConfig(bleach_per_pair=0.0))
    world.excitation_nm, world.shutter_open = 380, True
    assert world.frame_shape == (16, 16)
    full, _ = make_world(cells, dye_handling=DyeHandlingConfig(bleach_per_pair=0.0))
    full.excitation_nm, full.shutter_open = 380, True
    expected_full = full.expected_photoelectrons(20.0)[8:40, 16:48]
    np.testing.assert_allclose(
        world.expected_photoelectrons(20.0), expected_full.reshape(16, 2, 16, 2).sum(axis=(1, 3))
    )
    frame = world.render_frame(20.0)
    assert frame.shape == (16, 16)
    bright = CameraSensor(width_px=64, height_px=48, bit_depth=12, gain_adu_per_e=1.0)
    world, _ = make_world(cells, sensor=bright)
    world.excitation_nm, world.shutter_open = 380, True
    frame = world.render_frame(500.0)
    assert frame.max() == 4095  # clipped at the bit depth
    with pytest.raises(ValueError, match="multiples of binning"):
        CameraSensor(width_px=64, height_px=48, binning=3)


def test_emccd_excess_noise_doubles_the_shot_noise_variance():
    """§1.2/§5: EM gain multiplies the shot-noise variance by F² ≈ 2."""
    sensor = CameraSensor.preset("emccd", width_px=64, height_px=64, read_noise_e=0.0)
    world, _ = make_world([Cell(200, 200, 5)], sensor=sensor, optics=OpticsConfig())
    world.excitation_nm, world.shutter_open = 380, True
    frames = np.array([world.render_frame(20.0).astype(float) for _ in range(20)])
    expected = world.expected_photoelectrons(20.0).mean() + sensor.cic_e
    electrons = (frames - sensor.offset_adu) / (sensor.gain_adu_per_e * sensor.em_gain)
    assert electrons.mean() == pytest.approx(expected, rel=0.02)
    assert electrons.var() / electrons.mean() == pytest.approx(2.0, rel=0.05)


def test_frame_cost_stays_small():
    import time

    world, _ = make_world([Cell(100, 100, 20)], sensor=CameraSensor(width_px=256, height_px=256))
    world.excitation_nm, world.shutter_open = 380, True
    world.render_frame(10.0)
    start = time.perf_counter()
    for _ in range(5):
        world.render_frame(10.0)
    assert (time.perf_counter() - start) / 5 < 0.1  # generous: ~5 ms on one core
