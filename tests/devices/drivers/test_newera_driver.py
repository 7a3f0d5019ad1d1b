"""New Era NE-500 driver at the byte level (docs/reference/instruments.md §2.1)."""

from __future__ import annotations

import time

import pytest
from pymeasure.test import expected_protocol

from ionrig.devices.drivers import (
    CommandIgnoredError,
    CommandNotApplicableError,
    InstrumentAlarm,
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentSafetyError,
    InstrumentTimeout,
    InvalidArgumentError,
    InvalidPacketError,
    NewEraPump,
    PumpAlarm,
    PumpDispensed,
    PumpStatus,
    UnknownCommandError,
    format_ne_number,
)


def ok(status: str = "S", data: str = "", address: int = 0) -> bytes:
    """A basic-mode reply: STX addr status data ETX (§2.1)."""
    return b"\x02" + f"{address:02d}{status}{data}".encode() + b"\x03"


@pytest.mark.parametrize("letter", list("IWSPTUX"))
def test_status_letters(letter):
    with expected_protocol(NewEraPump, [(b"0\r", ok(letter))]) as pump:
        assert pump.status is PumpStatus(letter)
        assert pump.last_status is PumpStatus(letter)


def test_address_is_sent_and_checked():
    with expected_protocol(NewEraPump, [(b"7\r", ok("I", address=7))], address=7) as pump:
        assert pump.is_running
    with expected_protocol(NewEraPump, [(b"7\r", ok("I", address=3))], address=7) as pump:
        with pytest.raises(InstrumentReplyError, match="address 03"):
            pump.status


def test_diameter_get_and_set():
    pairs = [(b"0DIA\r", ok("S", "26.59")), (b"0DIA4.699\r", ok()), (b"0DIA14.50\r", ok())]
    with expected_protocol(NewEraPump, pairs) as pump:
        assert pump.diameter_mm == pytest.approx(26.59)
        pump.diameter_mm = 4.699
        pump.diameter_mm = 14.5


@pytest.mark.parametrize(
    ("reply", "uL_per_min"),
    [("1.000MM", 1000.0), ("150.0UM", 150.0), ("60.00UH", 1.0), ("1.200MH", 20.0)],
)
def test_rate_query_converts_units(reply, uL_per_min):
    with expected_protocol(NewEraPump, [(b"0RAT\r", ok("S", reply))]) as pump:
        assert pump.rate_uL_per_min == pytest.approx(uL_per_min)


@pytest.mark.parametrize(
    ("uL_per_min", "sent"),
    [
        (150, b"0RAT150.0UM\r"),
        (0.5, b"0RAT0.500UM\r"),
        (20000, b"0RAT20.00MM\r"),
        (1 / 60, b"0RAT1.000UH\r"),
        (1234.5, b"0RAT74.07MH\r"),  # 1235 µL/min would be 0.04 % off
    ],
)
def test_rate_is_sent_in_the_most_precise_units(uL_per_min, sent):
    with expected_protocol(NewEraPump, [(sent, ok())]) as pump:
        pump.rate_uL_per_min = uL_per_min


def test_number_format_is_at_most_4_digits_and_3_decimals():
    # §2.1: at most 4 digits plus the point, at most 3 decimals.
    assert [format_ne_number(v) for v in (0.001, 1.5, 26.59, 123.456, 9999, 9.9996)] == [
        "0.001",
        "1.500",
        "26.59",
        "123.5",
        "9999",
        "10.00",
    ]
    for bad in (0.0004, 10000, -1):
        with pytest.raises(ValueError):
            format_ne_number(bad)


def test_volume_target_sets_units_then_value_and_reads_back():
    pairs = [
        (b"0VOLUL\r", ok()),
        (b"0VOL50.00\r", ok()),
        (b"0VOLML\r", ok()),
        (b"0VOL25.00\r", ok()),
        (b"0VOL\r", ok("S", "25.00ML")),
    ]
    with expected_protocol(NewEraPump, pairs) as pump:
        pump.volume_target_uL = 50
        pump.volume_target_uL = 25000
        assert pump.volume_target_uL == pytest.approx(25000)


def test_zero_volume_target_is_refused():
    with expected_protocol(NewEraPump, []) as pump:
        with pytest.raises(ValueError, match="run without end"):
            pump.volume_target_uL = 0


def test_direction():
    pairs = [(b"0DIR\r", ok("S", "WDR")), (b"0DIRINF\r", ok())]
    with expected_protocol(NewEraPump, pairs) as pump:
        assert pump.direction == "withdraw"
        pump.direction = "infuse"


def test_run_is_refused_without_a_volume_target():
    with expected_protocol(NewEraPump, []) as pump:
        with pytest.raises(InstrumentSafetyError, match="volume target") as info:
            pump.run()
    assert "no reply" not in str(info.value)


def test_run_after_a_target_checks_it_then_runs():
    pairs = [
        (b"0VOLUL\r", ok()),
        (b"0VOL50.00\r", ok()),
        (b"0VOL\r", ok("S", "50.00UL")),
        (b"0RUN\r", ok("I")),
        (b"0STP\r", ok("P")),
    ]
    with expected_protocol(NewEraPump, pairs) as pump:
        pump.volume_target_uL = 50
        pump.run()
        assert pump.last_status is PumpStatus.INFUSING
        pump.stop()
        assert pump.last_status is PumpStatus.PAUSED


def test_run_is_refused_when_the_pump_lost_its_target():
    pairs = [(b"0VOLUL\r", ok()), (b"0VOL50.00\r", ok()), (b"0VOL\r", ok("S", "0.000UL"))]
    with expected_protocol(NewEraPump, pairs) as pump:
        pump.volume_target_uL = 50
        with pytest.raises(InstrumentSafetyError, match="front panel"):
            pump.run()


def test_dispensed_and_clear():
    pairs = [
        (b"0DIS\r", ok("S", "I1.250W0.010ML")),
        (b"0CLDINF\r", ok()),
        (b"0DIS\r", ok("S", "I0.000W10.00UL")),
    ]
    with expected_protocol(NewEraPump, pairs) as pump:
        assert pump.dispensed == PumpDispensed(pytest.approx(1250), pytest.approx(10))
        pump.clear_dispensed("infuse")
        assert pump.dispensed == PumpDispensed(0.0, pytest.approx(10))


def test_version():
    with expected_protocol(NewEraPump, [(b"0VER\r", ok("S", "NE1000V3.928"))]) as pump:
        assert pump.id == "NE1000V3.928"


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("?", UnknownCommandError),
        ("?NA", CommandNotApplicableError),
        ("?OOR", InvalidArgumentError),
        ("?COM", InvalidPacketError),
        ("?IGN", CommandIgnoredError),
    ],
)
def test_error_replies_are_typed_and_name_command_and_value(token, error):
    reply = ok("S", token)
    with expected_protocol(NewEraPump, [(b"0RAT150.0UM\r", reply)]) as pump:
        with pytest.raises(error) as info:
            pump.rate_uL_per_min = 150
    assert isinstance(info.value, InstrumentCommandError)
    assert info.value.code == token
    assert info.value.command == "RAT150.0UM" and info.value.value == "150.0UM"
    assert info.value.reply == reply
    assert "RAT150.0UM" in str(info.value) and "150.0UM" in str(info.value)


@pytest.mark.parametrize("alarm", ["S", "T", "E", "O"])
def test_alarms_raise(alarm):
    with expected_protocol(NewEraPump, [(b"0\r", ok(f"A?{alarm}"))]) as pump:
        with pytest.raises(InstrumentAlarm) as info:
            pump.status
    assert info.value.alarm == alarm
    assert pump.last_alarm is PumpAlarm(alarm)


def test_power_on_reset_alarm_is_recorded_and_the_command_repeated():
    pairs = [(b"0DIA\r", ok("A?R")), (b"0DIA\r", ok("S", "26.59"))]
    with expected_protocol(NewEraPump, pairs) as pump:
        assert pump.diameter_mm == pytest.approx(26.59)
    assert pump.last_alarm is PumpAlarm.RESET


@pytest.mark.parametrize(
    "reply",
    [b"00S26.59\x03", b"\x0200Q\x03", b"\x0200S26.59XX\x03", b"\x02\xff\xfe\x03", b"\x0200A?Z\x03"],
    ids=["no-stx", "bad-status", "bad-value", "not-ascii", "bad-alarm"],
)
def test_garbage_is_a_reply_error(reply):
    with expected_protocol(NewEraPump, [(b"0DIA\r", reply)]) as pump:
        with pytest.raises(InstrumentReplyError):
            pump.diameter_mm


def test_data_after_a_set_command_is_a_reply_error():
    with expected_protocol(NewEraPump, [(b"0DIRINF\r", ok("S", "INF"))]) as pump:
        with pytest.raises(InstrumentReplyError, match="set command"):
            pump.direction = "infuse"


def test_silence_is_a_timeout_within_the_timeout(scripted_port):
    pump = NewEraPump(scripted_port([None]), timeout_s=0.1)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout):
        pump.status
    assert time.monotonic() - start < 0.3


def test_reply_without_etx_is_partial(scripted_port):
    pump = NewEraPump(scripted_port([b"\x0200S26"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError, match="partial"):
        pump.diameter_mm


def test_invalid_address_is_refused():
    with pytest.raises(ValueError, match="address"):
        NewEraPump("loop://", address=100)
