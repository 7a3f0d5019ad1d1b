"""Sutter Lambda 10-3 and DG-4 drivers at the byte level (docs/reference/instruments.md §1.1,
§1.2)."""

from __future__ import annotations

import time

import pytest
from pymeasure.test import expected_protocol

from ionrig.devices.drivers import (
    FilterWheel,
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentTimeout,
    SutterLambda10_3,
    SutterLambdaDG4,
)

ONLINE = (b"\xee", b"\xee\r")  # §1.1 example session: EE -> EE 0D


# -- Lambda 10-3: good paths ---------------------------------------------------------------------
def test_move_byte_is_wheel_speed_position_and_returns_at_the_cr():
    # §1.1 example: wheel A, speed 3, position 2 -> 0x32.
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x32", b"\x32\r")]) as wheel:
        wheel.move(2, speed=3)


@pytest.mark.parametrize(
    ("wheel", "position", "speed", "sent"),
    [("A", 2, 3, b"\x32"), ("B", 2, 3, b"\xb2"), ("C", 5, 1, b"\xfc\x15"), ("A", 9, 7, b"\x79")],
)
def test_move_bytes_for_every_wheel(wheel, position, speed, sent):
    with expected_protocol(SutterLambda10_3, [ONLINE, (sent, sent + b"\r")], wheel=wheel) as driver:
        driver.move(position, speed=speed)


def test_default_speed_is_the_constructor_speed():
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x14", b"\x14\r")], speed=1) as wheel:
        wheel.move(4)


def test_repeated_move_to_the_same_position_sends_nothing():
    # §1.1: an identical command may get no reply, so the driver must not send it again.
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x32", b"\x32\r")]) as wheel:
        wheel.move(2, speed=3)
        wheel.move(2, speed=3)


@pytest.mark.parametrize(
    ("reply", "quirk"),
    [(b"\x02\r", "10-2 echoes only the position nibble"), (b"\x32\x01\r", "SC stray 0x01")],
)
def test_echo_quirks_are_tolerated(reply, quirk):
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x32", reply)]) as wheel:
        wheel.move(2, speed=3)


def test_shutter_a_and_b_commands():
    with expected_protocol(
        SutterLambda10_3,
        [ONLINE, (b"\xaa", b"\xaa\r"), (b"\xac", b"\xac\r")],
    ) as wheel:
        wheel.open_shutter()
        wheel.close_shutter()
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xba", b"\xba\r")], shutter="B") as wheel:
        wheel.open_shutter()


def test_inverted_shutter_echo_is_tolerated():
    # §1.1: the SC sometimes echoes 172 for 170.
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xaa", b"\xac\r")]) as wheel:
        wheel.open_shutter()


STATUS_REPLY = bytes([0xCC, 0x13, 0xB5, 0xFC, 0x02, 0xAA, 0xBC, 0xDE, 0x0D, 0xDC, 0x0D])


def test_status_is_decoded_structurally_even_with_a_0x0d_data_byte():
    # ND microsteps 13 == 0x0D must not be taken for the end of the reply (§1.1 status table).
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xcc", STATUS_REPLY)]) as wheel:
        status = wheel.status
    assert status.wheel_positions == {"A": 3, "B": 5, "C": 2}
    assert status.wheel_speeds == {"A": 1, "B": 3, "C": 0}
    assert status.shutter_open == {"A": True, "B": False}
    assert status.shutter_modes == {"A": "nd", "B": "fast"}
    assert status.nd_microsteps == {"A": 13, "B": None}


def test_position_reads_the_status_of_this_drivers_wheel():
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xcc", STATUS_REPLY)], wheel="B") as wheel:
        assert wheel.position == 5


def test_identity():
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xfd", b"\xfd10-3WA-25WB-NC\r")]) as wheel:
        assert wheel.id == "10-3WA-25WB-NC"


@pytest.mark.parametrize(
    ("args", "sent"),
    [(("fast",), b"\xdc\x01"), (("soft",), b"\xdd\x01"), (("nd", 13), b"\xde\x01\x0d")],
)
def test_shutter_modes(args, sent):
    with expected_protocol(SutterLambda10_3, [ONLINE, (sent, sent + b"\r")]) as wheel:
        wheel.set_shutter_mode(*args)


def test_invalid_arguments_are_refused_before_any_io():
    with expected_protocol(SutterLambda10_3, []) as wheel:
        with pytest.raises(ValueError, match="position"):
            wheel.move(10)
        with pytest.raises(ValueError, match="speed"):
            wheel.move(1, speed=8)
        with pytest.raises(ValueError, match="nd_microsteps"):
            wheel.set_shutter_mode("nd", 0)
    with pytest.raises(ValueError, match="wheel"):
        SutterLambda10_3("loop://", wheel="D")


def test_go_online_when_already_online_falls_back_to_status(scripted_port):
    # §1.1: "go on-line" sent when already on-line may get no response.
    port = scripted_port([None, STATUS_REPLY])
    wheel = SutterLambda10_3(port, timeout_s=0.1)
    wheel.go_online()
    assert port.written == [b"\xee", b"\xcc"]


# -- Lambda 10-3: errors ---------------------------------------------------------------------------
def test_well_formed_echo_of_another_command_is_a_command_error():
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x32", b"\x33\r")]) as wheel:
        with pytest.raises(InstrumentCommandError) as info:
            wheel.move(2, speed=3)
    assert info.value.code == "ECHO_MISMATCH"
    assert info.value.command == b"\x32"
    assert info.value.reply == b"\x33\r"


@pytest.mark.parametrize(
    "reply",
    [b"\x32\x99", b"\xfe\x81\x00\r", b"\x32\x01\x01\x01\x01\x01"],
    ids=["bad-completion", "noise", "babble"],
)
def test_garbage_is_a_reply_error(reply):
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\x32", reply)]) as wheel:
        with pytest.raises(InstrumentReplyError):
            wheel.move(2, speed=3)


def test_status_that_does_not_parse_is_a_reply_error():
    bad = bytearray(STATUS_REPLY)
    bad[3] = 0x00  # the FC prefix of wheel C is missing
    with expected_protocol(SutterLambda10_3, [ONLINE, (b"\xcc", bytes(bad))]) as wheel:
        with pytest.raises(InstrumentReplyError, match="status"):
            wheel.status


def test_silence_is_a_timeout_within_the_timeout(scripted_port):
    port = scripted_port([])
    wheel = SutterLambda10_3(port, timeout_s=0.1)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        wheel.move(1)
    assert time.monotonic() - start < 0.5  # EE, then the status fallback: two timeouts
    assert info.value.reply is None
    assert isinstance(info.value, TimeoutError)


def test_reply_that_stops_after_the_echo_is_a_partial_reply_error(scripted_port):
    wheel = SutterLambda10_3(scripted_port([b"\xee\r", b"\x32"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError, match="partial") as info:
        wheel.move(2, speed=3)
    assert info.value.reply == b"\x32"


def test_move_timeout_grows_with_the_table_move_time(scripted_port):
    # Speed 7 over 5 positions takes 1.1 s (§1.1 table): a CR 0.4 s late is fine…
    slow = [(0.0, b"\x75"), (0.4, b"\r")]
    wheel = SutterLambda10_3(scripted_port([b"\xee\r", slow]), timeout_s=0.1)
    wheel.move(5, speed=7)
    # …while at speed 0 over one position (0.031 s) the same delay is a failure.
    wheel = SutterLambda10_3(
        scripted_port([b"\xee\r", [(0.0, b"\x01"), (0.4, b"\r")]]), timeout_s=0.1
    )
    with pytest.raises(InstrumentReplyError, match="partial"):
        wheel.move(1, speed=0)


def test_after_a_failure_the_driver_resyncs_with_a_status_query():
    pairs = [ONLINE, (b"\x32", b"\x33\r"), (b"\xcc", STATUS_REPLY), (b"\x32", b"\x32\r")]
    with expected_protocol(SutterLambda10_3, pairs) as wheel:
        with pytest.raises(InstrumentCommandError):
            wheel.move(2, speed=3)
        wheel.move(2, speed=3)  # sent again: the failed attempt may not have moved the wheel


# -- DG-4 ------------------------------------------------------------------------------------------
DG4_ONLINE = (b"\xee", None)  # §1.2: EE is the only command that is not echoed


def test_dg4_goes_online_without_echo_and_moves():
    with expected_protocol(SutterLambdaDG4, [DG4_ONLINE, (b"\x03", b"\x03\r")]) as dg4:
        dg4.move(3)
        assert dg4.position == 3


def test_dg4_repeat_is_preceded_by_0xab():
    # §1.2: a command equal to the previous one is neither echoed nor executed.
    pairs = [DG4_ONLINE, (b"\x01", b"\x01\r"), (b"\xab", b"\xab"), (b"\x01", b"\x01\r")]
    with expected_protocol(SutterLambdaDG4, pairs) as dg4:
        dg4.move(1)
        dg4.move(1)


def test_dg4_move_on_trigger_adds_16_and_waits_for_the_echo_only():
    with expected_protocol(SutterLambdaDG4, [DG4_ONLINE, (b"\x13", b"\x13")]) as dg4:
        dg4.move(3, on_trigger=True)


def test_dg4_shutter_closes_to_0_and_reopens_the_last_filter():
    pairs = [DG4_ONLINE, (b"\x05", b"\x05\r"), (b"\x00", b"\x00\r"), (b"\x05", b"\x05\r")]
    with expected_protocol(SutterLambdaDG4, pairs) as dg4:
        dg4.move(5)
        dg4.close_shutter()
        assert dg4.position == 0
        dg4.open_shutter()
        assert dg4.position == 5


def test_dg4_ring_buffer_load_run_and_stop():
    pairs = [
        DG4_ONLINE,
        (b"\xdf", b"\xdf"),
        (b"\x01", b"\x01"),
        (b"\x02", b"\x02"),
        (b"\x01", b"\x01"),
        (b"\x02", b"\x02"),
        (b"\xf0", b"\xf0"),
        (b"\xf1", b"\xf1"),
        (b"\xf2", b"\xf2"),
    ]
    with expected_protocol(SutterLambdaDG4, pairs) as dg4:
        dg4.load_ring_buffer([1, 2, 1, 2])
        dg4.start_ring_buffer()
        assert dg4.ring_buffer_running
        with pytest.raises(RuntimeError, match="ring buffer"):
            dg4.move(1)
        dg4.stop_ring_buffer()
    assert dg4.ring_buffer == (1, 2, 1, 2)


def test_dg4_refuses_adjacent_repeats_and_bad_positions_before_any_io():
    with expected_protocol(SutterLambdaDG4, []) as dg4:
        with pytest.raises(ValueError, match="adjacent"):
            dg4.load_ring_buffer([1, 1, 2])
        with pytest.raises(ValueError, match="position"):
            dg4.move(13)
        with pytest.raises(LookupError):
            dg4.position


def test_dg4_identity():
    pairs = [DG4_ONLINE, (b"\xfd", b"\xfdDG4/5V1.12SS-ON\r")]
    with expected_protocol(SutterLambdaDG4, pairs) as dg4:
        assert dg4.id == "DG4/5V1.12SS-ON"


def test_dg4_echo_mismatch_then_resync_with_0xab():
    pairs = [DG4_ONLINE, (b"\x01", b"\x00\r"), (b"\xab", b"\xab"), (b"\x01", b"\x01\r")]
    with expected_protocol(SutterLambdaDG4, pairs) as dg4:
        with pytest.raises(InstrumentCommandError):
            dg4.move(1)
        dg4.move(1)


def test_dg4_silence_and_garbage(scripted_port):
    dg4 = SutterLambdaDG4(scripted_port([None, None]), timeout_s=0.1)
    with pytest.raises(InstrumentTimeout):
        dg4.move(1)
    dg4 = SutterLambdaDG4(scripted_port([None, b"\x01\x07\x07\x07\x07"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError):
        dg4.move(1)


def test_both_sutter_drivers_are_filter_wheels():
    with expected_protocol(SutterLambda10_3, []) as wheel:
        assert isinstance(wheel, FilterWheel)
        assert wheel.has_shutter and wheel.positions == range(10) and wheel.n_positions == 10
    with expected_protocol(SutterLambdaDG4, []) as dg4:
        assert isinstance(dg4, FilterWheel)
        assert dg4.has_shutter and dg4.positions == range(13)


def test_identity_that_stops_after_the_echo_is_partial(scripted_port):
    dg4 = SutterLambdaDG4(scripted_port([None, b"\xfd"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError, match="partial"):
        dg4.id
    wheel = SutterLambda10_3(scripted_port([b"\xee\r", b"\xfd10-3"]), timeout_s=0.1)
    with pytest.raises(InstrumentReplyError, match="partial"):
        wheel.id
