import numpy as np
import pytest

from ionrig.analysis import (
    CircleRoi,
    RectangleRoi,
    detect_background,
    detect_cells,
    roi_from_spec,
    roi_mask,
)


def test_masks_of_each_shape():
    circle = roi_mask({"shape": "circle", "x_px": 10, "y_px": 5, "radius_px": 3}, (20, 30))
    assert circle.sum() == 29  # lattice points within r=3
    assert circle[5, 10] and not circle[5, 14]
    rect = roi_mask(
        {"shape": "rectangle", "x_px": 2, "y_px": 3, "width_px": 4, "height_px": 5}, (20, 30)
    )
    assert rect.sum() == 20 and rect[3, 2] and not rect[8, 2]
    triangle = roi_mask({"shape": "polygon", "vertices_px": [[0, 0], [10, 0], [0, 10]]}, (20, 20))
    assert triangle[1, 1] and not triangle[9, 9]
    assert 40 <= triangle.sum() <= 60  # area 50


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"shape": "star"}, "ROI shape must be one of circle, rectangle, polygon; got 'star'"),
        ({"shape": "circle", "x_px": 1, "y_px": 2}, "missing 'radius_px'"),
        ({"shape": "circle", "x_px": 1, "y_px": 2, "radius_px": -1}, "radius_px must be > 0"),
        (
            {"shape": "rectangle", "x_px": 1, "y_px": 2, "width_px": 3, "height_px": 4, "z": 1},
            "unknown key",
        ),
        ({"shape": "polygon", "vertices_px": [[0, 0], [1, 1]]}, "at least 3"),
        ("circle", "must be a mapping"),
    ],
)
def test_bad_rois_are_refused_by_name(spec, message):
    with pytest.raises(ValueError, match=message):
        roi_from_spec(spec, name="rois['c1']")


def test_detect_cells_finds_each_bright_disc_near_its_centre():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 3, size=(64, 80))
    truth = [(20.0, 15.0, 6), (55.0, 40.0, 5), (60.0, 12.0, 4)]
    yy, xx = np.mgrid[0:64, 0:80]
    for x, y, r in truth:
        image[(xx - x) ** 2 + (yy - y) ** 2 <= r**2] += 80 * r / 6
    found = detect_cells(image)
    assert len(found) == 3
    assert isinstance(found[0], CircleRoi)
    for x, y, r in truth:
        nearest = min(found, key=lambda c: (c.x_px - x) ** 2 + (c.y_px - y) ** 2)
        assert abs(nearest.x_px - x) < 1 and abs(nearest.y_px - y) < 1
        assert nearest.radius_px < r  # inside the cell
    background = detect_background(image, found)
    assert isinstance(background, RectangleRoi)
    mask = roi_mask(background, image.shape)
    for cell in found:
        assert not (mask & roi_mask(cell, image.shape)).any()


def test_detect_cells_on_a_flat_image_finds_none():
    assert detect_cells(np.full((32, 32), 100.0)) == []


def test_detect_cells_refuses_bad_images():
    with pytest.raises(ValueError, match="2-D"):
        detect_cells(np.zeros(10))
    bad = np.zeros((8, 8))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detect_cells(bad)


def test_ratio_and_ion_concentration_refuse_bad_input_by_name():
    from ionrig.analysis import ion_concentration, ratio

    with pytest.raises(ValueError, match=r"shapes do not match: f340 \(3,\), f380 \(2,\)"):
        ratio([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="exposure340_ms must be > 0"):
        ratio(1.0, 1.0, exposure340_ms=0)
    with pytest.raises(ValueError, match="r_max must be greater than r_min"):
        ion_concentration(1.0, r_min=3.0, r_max=0.4, kd=1.9)
    with pytest.raises(ValueError, match="ratio contains NaN"):
        ion_concentration([np.nan], r_min=0.4, r_max=3.0, kd=1.9)
    # exposure normalisation and background: ((8-2)/2) / ((5-1)/4) = 3
    assert ratio(
        8.0, 5.0, background340=2.0, background380=1.0, exposure340_ms=2.0, exposure380_ms=4.0
    ) == pytest.approx(3.0)
    # Grynkiewicz round trip: kd*beta*(R-Rmin)/(Rmax-R)
    assert ion_concentration(1.0, r_min=0.4, r_max=3.0, kd=1.9, beta=5.0) == pytest.approx(
        1.9 * 5.0 * 0.6 / 2.0
    )
