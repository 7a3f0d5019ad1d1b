"""Thorlabs FW102C driver at the byte level (docs/reference/instruments.md §1.3)."""

from __future__ import annotations

import time

import pytest
from pymeasure.test import expected_protocol

from ionrig.devices.drivers import (
    FeatureNotFitted,
    FilterWheel,
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentTimeout,
    InvalidArgumentError,
    ThorlabsFW102C,
    UnknownCommandError,
)


def test_position_query_reads_echo_value_and_prompt():
    # §1.3 framing: pos?\r -> pos?\r, 3\r, "> ".
    with expected_protocol(ThorlabsFW102C, [(b"pos?\r", b"pos?\r3\r> ")]) as wheel:
        assert wheel.position == 3


def test_move_asks_the_position_count_once_then_sets_the_position():
    pairs = [
        (b"pcount?\r", b"pcount?\r6\r> "),
        (b"pos=2\r", b"pos=2\r> "),
        (b"pos=6\r", b"pos=6\r> "),
    ]
    with expected_protocol(ThorlabsFW102C, pairs) as wheel:
        wheel.move(2)
        wheel.move(6)
        assert wheel.positions == range(1, 7)


def test_move_with_a_known_position_count_sends_only_pos():
    with expected_protocol(ThorlabsFW102C, [(b"pos=12\r", b"pos=12\r> ")], n_positions=12) as w:
        w.move(12)
    with expected_protocol(ThorlabsFW102C, [], n_positions=6) as w:
        with pytest.raises(ValueError, match="position"):
            w.move(7)
        with pytest.raises(ValueError, match="position"):
            w.move(0)


@pytest.mark.parametrize(
    ("prop", "command", "reply", "value"),
    [
        ("speed", "speed?", "1", "fast"),
        ("speed", "speed?", "0", "slow"),
        ("trigger_mode", "trig?", "0", "input"),
        ("trigger_mode", "trig?", "1", "output"),
        ("sensors_always_on", "sensors?", "0", False),
        ("position_count", "pcount?", "12", 12),
    ],
)
def test_queries(prop, command, reply, value):
    with expected_protocol(
        ThorlabsFW102C, [(f"{command}\r".encode(), f"{command}\r{reply}\r> ".encode())]
    ) as wheel:
        assert getattr(wheel, prop) == value


@pytest.mark.parametrize(
    ("prop", "value", "command"),
    [
        ("speed", "slow", "speed=0"),
        ("trigger_mode", "output", "trig=1"),
        ("sensors_always_on", True, "sensors=1"),
        ("position_count", 12, "pcount=12"),
    ],
)
def test_settings(prop, value, command):
    with expected_protocol(
        ThorlabsFW102C, [(f"{command}\r".encode(), f"{command}\r> ".encode())]
    ) as wheel:
        setattr(wheel, prop, value)


def test_invalid_setting_is_refused_before_any_io():
    with expected_protocol(ThorlabsFW102C, []) as wheel, pytest.raises(ValueError):
        wheel.speed = "medium"


def test_idn_and_save():
    idn = "THORLABS FW102C/FW212C Filter Wheel version 1.07"
    pairs = [(b"*idn?\r", f"*idn?\r{idn}\r> ".encode()), (b"save\r", b"save\r> ")]
    with expected_protocol(ThorlabsFW102C, pairs) as wheel:
        assert wheel.id == idn
        wheel.save()


def test_cmd_arg_invalid_is_a_typed_error_naming_command_and_value():
    # A 12-position driver on a 6-position wheel: the wheel refuses pos=9.
    reply = b"pos=9\rCommand error CMD_ARG_INVALID\n"
    with expected_protocol(ThorlabsFW102C, [(b"pos=9\r", reply)], n_positions=12) as wheel:
        with pytest.raises(InvalidArgumentError) as info:
            wheel.move(9)
    error = info.value
    assert isinstance(error, InstrumentCommandError)
    assert error.code == "CMD_ARG_INVALID"
    assert error.command == "pos=9" and error.value == "9" and error.reply == reply
    assert "Thorlabs FW102C" in str(error) and "pos=9" in str(error)


def test_cmd_not_defined_is_a_typed_error():
    reply = b"sensors?\rCommand error CMD_NOT_DEFINED\n"
    with expected_protocol(ThorlabsFW102C, [(b"sensors?\r", reply)]) as wheel:
        with pytest.raises(UnknownCommandError) as info:
            wheel.sensors_always_on
    assert info.value.code == "CMD_NOT_DEFINED"


@pytest.mark.parametrize(
    "reply",
    [b"pos?\rabc\r> ", b"xyz\r3\r> ", b"pos?\r\xff\r> ", b"pos?\r3\r4\r> "],
    ids=["bad-value", "no-echo", "not-ascii", "two-values"],
)
def test_garbage_is_a_reply_error(reply):
    with expected_protocol(ThorlabsFW102C, [(b"pos?\r", reply)]) as wheel:
        with pytest.raises(InstrumentReplyError):
            wheel.position


def test_data_after_a_set_command_is_a_reply_error():
    with expected_protocol(ThorlabsFW102C, [(b"speed=1\r", b"speed=1\r1\r> ")]) as wheel:
        with pytest.raises(InstrumentReplyError, match="set command"):
            wheel.speed = "fast"


def test_silence_is_a_timeout_within_the_timeout(scripted_port):
    wheel = ThorlabsFW102C(scripted_port([None]), timeout_s=0.1)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout):
        wheel.position
    assert time.monotonic() - start < 0.3


def test_endless_babble_is_a_reply_error(scripted_port):
    wheel = ThorlabsFW102C(scripted_port([b"pos?\r" + b"3" * 400]), timeout_s=0.5)
    with pytest.raises(InstrumentReplyError, match="garbage"):
        wheel.position


def test_reply_without_prompt_is_partial(scripted_port):
    wheel = ThorlabsFW102C(scripted_port([b"pos?\r3\r"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError, match="partial") as info:
        wheel.position
    assert info.value.reply == b"pos?\r3\r"


def test_move_waits_for_the_prompt_up_to_move_timeout(scripted_port):
    late_prompt = [(0.0, b"pos=4\r"), (0.3, b"> ")]
    wheel = ThorlabsFW102C(scripted_port([late_prompt]), timeout_s=0.1, n_positions=6)
    wheel.move(4)  # 0.3 s > timeout_s but < move_timeout_s
    wheel = ThorlabsFW102C(
        scripted_port([late_prompt]), timeout_s=0.1, move_timeout_s=0.2, n_positions=6
    )
    with pytest.raises(InstrumentReplyError, match="partial"):
        wheel.move(4)


def test_fw102c_is_a_filter_wheel_without_shutter():
    with expected_protocol(ThorlabsFW102C, [], n_positions=6) as wheel:
        assert isinstance(wheel, FilterWheel)
        assert wheel.has_shutter is False
        assert wheel.n_positions == 6
        with pytest.raises(FeatureNotFitted):
            wheel.open_shutter()
        with pytest.raises(FeatureNotFitted):
            wheel.close_shutter()
