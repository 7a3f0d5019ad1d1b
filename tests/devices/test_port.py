"""BlockingPort: one transaction at a time per instrument; transient failures retried with
backoff and logged; everything else raised at once."""

import asyncio
import logging
import time

import pytest

from ionrig.devices import (
    BadFrame,
    BlockingPort,
    RetryPolicy,
    transient_frame_error,
    transient_io_error,
)
from ionrig.devices.drivers import (
    AmplifierModeError,
    CommandNotApplicableError,
    DaqCommandError,
    DaqDeviceLost,
    DaqRangeError,
    DaqReadingError,
    DaqTimeout,
    InstrumentAlarm,
    InstrumentDisconnected,
    InstrumentReplyError,
    InstrumentSafetyError,
    InstrumentTimeout,
    InvalidArgumentError,
    UnknownCommandError,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02)
WHO = {"instrument": "test instrument"}


class Flaky:
    """Fails with ``errors`` (one per call, in order), then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        InstrumentTimeout("no reply within 1 s", **WHO),
        InstrumentReplyError("partial reply", **WHO),
        InstrumentDisconnected("port error", **WHO),
        CommandNotApplicableError("pump rejected DIS", code="?NA", **WHO),
        DaqTimeout("no response", **WHO),
        DaqDeviceLost("DAQ device lost", **WHO),
        DaqCommandError("DAQ error", code="-50150", **WHO),
        DaqReadingError("mode telegraph reads 9.3 V", **WHO),
        AmplifierModeError("front panel in I-Clamp", **WHO),
        ConnectionError("camera link lost"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors(error):
    assert transient_io_error(error)


@pytest.mark.parametrize(
    "error",
    [
        InstrumentSafetyError("outside the command limits", **WHO),
        DaqRangeError("12 V is outside -10..10 V", **WHO),
        InstrumentAlarm("pump alarm STALLED", alarm="S", **WHO),
        InvalidArgumentError("out of range", code="?OOR", **WHO),
        UnknownCommandError("unknown command", code="?", **WHO),
        ValueError("position must be an int in range(0, 10)"),
        TimeoutError("a bare timeout"),
        RuntimeError("camera stopped delivering frames"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_repeat_by_construction_are_not_transient(error):
    assert not transient_io_error(error)


def test_camera_retakes_bad_frames_but_not_frame_timeouts():
    assert transient_frame_error(BadFrame("got shape (768,)", instrument="camera"))
    assert transient_frame_error(ConnectionError("camera link lost"))
    assert not transient_frame_error(TimeoutError("no frame within 0.2 s"))
    assert not transient_frame_error(InstrumentTimeout("no frame", instrument="camera"))


def test_backoff_doubles_up_to_its_cap():
    policy = RetryPolicy(attempts=6, backoff_s=0.1, max_backoff_s=0.5)
    assert [policy.delay_s(k) for k in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert RetryPolicy().attempts == 4 and sum(RetryPolicy().delay_s(k) for k in (1, 2, 3)) == (
        pytest.approx(0.7)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts must be an int in 1..100"),
        ({"attempts": 2.5}, "attempts must be an int"),
        ({"backoff_s": -1.0}, "needs 0 <= backoff_s <= max_backoff_s"),
        ({"backoff_s": 3.0, "max_backoff_s": 2.0}, "needs 0 <= backoff_s <= max_backoff_s"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


async def test_a_transient_failure_is_retried_after_a_backoff_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="ionrig.devices")
    port = BlockingPort("wheel", retry=FAST)
    flaky = Flaky(InstrumentTimeout("no reply within 0.1 s", **WHO))
    assert await port.call(flaky) == "ok"
    assert len(flaky.calls) == 2 and flaky.calls[1] - flaky.calls[0] >= 0.01
    assert port.retries == 1 and port.gave_up == 0
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("wheel: Flaky failed (InstrumentTimeout: test ")
    assert "retry 1 of 2 in 0.01 s" in record.getMessage()


async def test_giving_up_re_raises_the_last_error_and_logs_it(caplog):
    caplog.set_level(logging.WARNING, logger="ionrig.devices")
    port = BlockingPort("pump", retry=FAST)
    errors = [InstrumentDisconnected(f"port error {i}", **WHO) for i in range(3)]
    flaky = Flaky(*errors)
    with pytest.raises(InstrumentDisconnected) as failure:
        await port.call(flaky)
    assert failure.value is errors[-1]  # unchanged: plans see the instrument's typed error
    assert len(flaky.calls) == 3 and port.retries == 2 and port.gave_up == 1
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2 + [logging.ERROR]
    assert "failed 3 times, giving up" in caplog.records[-1].getMessage()


async def test_other_errors_and_ports_without_a_policy_fail_at_once(caplog):
    safety = Flaky(InstrumentSafetyError("outside the limits", **WHO))
    with pytest.raises(InstrumentSafetyError):
        await BlockingPort("amplifier", retry=FAST).call(safety)
    bare = Flaky(InstrumentTimeout("no reply", **WHO))
    with pytest.raises(InstrumentTimeout):
        await BlockingPort("wheel").call(bare)
    assert len(safety.calls) == len(bare.calls) == 1
    assert caplog.records == []


async def test_no_other_transaction_comes_between_a_failure_and_its_retry():
    port = BlockingPort("daq", retry=RetryPolicy(attempts=2, backoff_s=0.05, max_backoff_s=0.05))
    order: list[str] = []

    def first() -> None:
        order.append("first")
        if order.count("first") == 1:
            raise DaqTimeout("no response", **WHO)

    def second() -> None:
        order.append("second")

    async def later() -> None:
        await asyncio.sleep(0.01)  # during the first call's backoff
        await port.call(second)

    await asyncio.gather(port.call(first), later())
    assert order == ["first", "first", "second"]
