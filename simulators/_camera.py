"""Camera sensors and the photo-electron → ADU pipeline (docs/reference/physiology.md §1.2, §5).

Recipe (§5, estimate)::

    e-  = Poisson(photo-electrons + dark*t + CIC)      (binned charge, before readout)
    EMCCD: e- -> Gamma(shape=e-, scale=M)              (EM register, mean gain M; F² = 2)
    ADU = round(offset + G * (e- + Normal(0, sigma_RO))), clipped to the bit depth

Binning sums charge on chip (one read per binned pixel); the ROI is a window of the sensor in
unbinned pixels. The default sensor is the interline CCD of the Hess et al. 2019 recordings
(§5 default camera); :meth:`CameraSensor.preset` gives the EMCCD and sCMOS presets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

__all__ = ["CameraSensor"]


@dataclass(frozen=True)
class CameraSensor:
    """A scientific camera: geometry, gain, noise, offset, binning, ROI and timing."""

    width_px: int = 128  # sensor width used by the simulated rig (small: fast tests, §Tests)
    height_px: int = 128
    bit_depth: int = 16  # not in the reference (estimate)
    gain_adu_per_e: float = 0.146  # §5 default interline CCD (hess-et-al /CCD)
    read_noise_e: float = 16.4  # §5 default interline CCD
    offset_adu: float = 100.0  # not in the reference (estimate)
    #: §5 gives ~0.06 e⁻/px/s for an uncooled-class sCMOS (ORCA-Flash4.0 V3; unconfirmed), the
    #: only room-temperature figure in the reference; used for the CCD too (estimate).
    dark_current_e_per_s: float = 0.06
    readout_ms: float = 5.0  # frame readout; not in the reference (estimate)
    em_gain: float = 1.0  # EMCCD mean EM gain (§5 ≤ 1000); 1 = no EM register
    cic_e: float = 0.0  # clock-induced charge per pixel per frame (§5 EMCCD 0.001-0.01)
    full_well_e: float | None = None  # per binned pixel; None = only the ADC clips
    binning: int = 1  # §5 2×2 to 4×4 typical
    roi_px: tuple[int, int, int, int] | None = None  # (x, y, width, height), unbinned pixels

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 8 <= value <= 4096):
                raise ValueError(f"camera {name} must be an integer in 8..4096, got {value!r}")
        if self.bit_depth not in (8, 12, 14, 16):
            raise ValueError(
                f"camera bit_depth must be one of 8, 12, 14, 16, got {self.bit_depth!r}"
            )
        for name in (
            "gain_adu_per_e",
            "read_noise_e",
            "offset_adu",
            "dark_current_e_per_s",
            "cic_e",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"camera {name} must be >= 0, got {getattr(self, name)!r}")
        if not self.readout_ms >= 0:
            raise ValueError(f"camera readout_ms must be >= 0 ms, got {self.readout_ms!r}")
        if not 1 <= self.em_gain <= 1000:
            raise ValueError(f"camera em_gain must be in 1..1000, got {self.em_gain!r}")
        if self.full_well_e is not None and not self.full_well_e > 0:
            raise ValueError(f"camera full_well_e must be > 0 or null, got {self.full_well_e!r}")
        if self.binning not in (1, 2, 3, 4, 8):
            raise ValueError(f"camera binning must be one of 1, 2, 3, 4, 8, got {self.binning!r}")
        x, y, w, h = self.window
        if not (x >= 0 and y >= 0 and w >= 1 and h >= 1):
            raise ValueError(f"camera roi_px must be (x, y, width, height) >= 0, got {self.roi_px}")
        if x + w > self.width_px or y + h > self.height_px:
            raise ValueError(
                f"camera roi_px {self.roi_px} does not fit the {self.width_px}x{self.height_px} "
                "sensor"
            )
        if w % self.binning or h % self.binning:
            raise ValueError(
                f"camera ROI width and height ({w}x{h}) must be multiples of binning {self.binning}"
            )
        if min(w, h) // self.binning < 4:
            raise ValueError("camera frames must be at least 4x4 binned pixels")

    @property
    def max_adu(self) -> int:
        return 2**self.bit_depth - 1

    @property
    def window(self) -> tuple[int, int, int, int]:
        """``(x, y, width, height)`` of the read-out window in unbinned pixels."""
        if self.roi_px is None:
            return (0, 0, self.width_px, self.height_px)
        return tuple(int(v) for v in self.roi_px)  # type: ignore[return-value]

    @property
    def frame_width_px(self) -> int:
        return self.window[2] // self.binning

    @property
    def frame_height_px(self) -> int:
        return self.window[3] // self.binning

    @classmethod
    def preset(cls, name: str, **changes: object) -> CameraSensor:
        """``"interline_ccd"`` (default), ``"emccd"`` (iXon Ultra 897) or ``"scmos"``."""
        if name == "interline_ccd":
            return replace(cls(), **changes)  # type: ignore[arg-type]
        if name == "emccd":
            base = cls(
                width_px=512,  # iXon Ultra 897 (§5)
                height_px=512,
                read_noise_e=50.0,  # §5 ~50 e⁻ rms at 10 MHz
                em_gain=300.0,  # §5 ≤ 1000; effective read noise < 1 e⁻ above ~50
                dark_current_e_per_s=0.0005,  # §5 0.0002-0.001 e⁻/px/s at −80 to −100 °C
                cic_e=0.005,  # §5 0.001-0.01 e⁻/px/frame (unconfirmed)
                gain_adu_per_e=0.2,  # conversion before EM gain; not in the reference (estimate)
            )
        elif name == "scmos":
            base = cls(
                width_px=2048,  # §5 ORCA-Flash4.0 V3 / pco.edge 4.2
                height_px=2048,
                read_noise_e=1.4,  # §5 ORCA ~1.4 e⁻ rms
                dark_current_e_per_s=0.06,  # §5 ORCA ~0.06 e⁻/px/s
                full_well_e=30_000.0,  # §5 ORCA full well ~30 000 e⁻
                gain_adu_per_e=0.46,  # not in the reference (estimate)
            )
        else:
            raise ValueError(
                f"camera preset must be one of interline_ccd, emccd, scmos; got {name!r}"
            )
        return replace(base, **changes)  # type: ignore[arg-type]

    def bin_and_crop(self, image: NDArray[np.float64]) -> NDArray[np.float64]:
        """Full-sensor per-pixel values → the binned ROI (sums over each bin)."""
        x, y, w, h = self.window
        window = image[y : y + h, x : x + w]
        b = self.binning
        if b == 1:
            return window
        return window.reshape(h // b, b, w // b, b).sum(axis=(1, 3))

    def read_out(
        self,
        expected_e: NDArray[np.float64],
        exposure_ms: float,
        rng: np.random.Generator,
    ) -> NDArray[np.uint16]:
        """One frame (ADU) from the expected photo-electrons per binned pixel."""
        mean = (
            expected_e
            + (self.dark_current_e_per_s * exposure_ms / 1000.0 + self.cic_e) * self.binning**2
        )
        electrons = rng.poisson(mean).astype(np.float64)
        if self.full_well_e is not None:
            np.minimum(electrons, self.full_well_e, out=electrons)
        if self.em_gain > 1:
            lit = electrons > 0
            amplified = np.zeros_like(electrons)
            amplified[lit] = rng.gamma(electrons[lit], self.em_gain)
            electrons = amplified
        noise = rng.standard_normal(electrons.shape)
        noise *= self.read_noise_e
        electrons += noise
        adu = electrons
        adu *= self.gain_adu_per_e
        adu += self.offset_adu
        np.rint(adu, out=adu)
        np.clip(adu, 0, self.max_adu, out=adu)
        return adu.astype(np.uint16)
