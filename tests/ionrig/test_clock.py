import asyncio
import time

import pytest

from ionrig.simulators import ScaledClock, WallClock


def test_scaled_clock_runs_time_scale_times_faster():
    clock = ScaledClock(time_scale=1000)
    t0 = clock.now_s()
    start = time.monotonic()
    clock.sleep_s(50.0)  # 50 simulated seconds
    real = time.monotonic() - start
    assert 0.04 <= real < 0.5
    assert clock.now_s() - t0 >= 50.0


def test_async_sleep_follows_the_clock():
    clock = ScaledClock(time_scale=10_000)
    start = time.monotonic()
    asyncio.run(clock.async_sleep_s(600.0))
    assert time.monotonic() - start < 0.5
    assert clock.real_seconds(600.0) == pytest.approx(0.06)


def test_advance_moves_the_clock_forward_only():
    clock = ScaledClock(time_scale=1)
    before = clock.now_s()
    clock.advance_s(3600.0)
    assert clock.now_s() - before >= 3600.0
    with pytest.raises(ValueError, match="duration_s"):
        clock.advance_s(-1.0)


def test_wall_clock_is_real_time_and_cannot_jump():
    clock = WallClock()
    assert clock.time_scale == 1.0
    with pytest.raises(RuntimeError):
        clock.advance_s(1.0)


@pytest.mark.parametrize("bad", [0, -1.0])
def test_time_scale_must_be_positive(bad):
    with pytest.raises(ValueError, match="time_scale"):
        ScaledClock(time_scale=bad)
