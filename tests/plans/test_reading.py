"""Reads that survive an interruption: after a pause or suspension the RunEngine answers the
interrupted message with None; the plan reads again instead of taking None (or 0) for it."""

import pytest
from bluesky.utils import Msg

from ionrig.plans._reading import READ_ATTEMPTS, read_reading, rig_time_s


class _Clock:
    name = "t_s"


class _Rig:
    t_s = _Clock()


def _drive(plan, answers):
    """Run ``plan`` by hand, answering its messages with ``answers`` in order."""
    sent = []
    msg = next(plan)
    try:
        for answer in answers:
            sent.append(msg)
            msg = plan.send(answer)
    except StopIteration as stop:
        return stop.value, sent
    raise AssertionError(f"the plan still wants an answer to {msg!r}")


def test_an_interrupted_read_of_the_rig_time_is_read_again():
    reading = {"t_s": {"value": 1234.5, "timestamp": 0.0}}
    value, sent = _drive(rig_time_s(_Rig()), [None, reading])
    assert value == 1234.5  # not bps.rd's default 0
    assert [m.command for m in sent] == ["read", "read"]
    assert all(isinstance(m, Msg) and m.obj is _Rig.t_s for m in sent)


def test_a_read_that_never_answers_names_the_object():
    with pytest.raises(RuntimeError, match=rf"t_s gave no reading in {READ_ATTEMPTS} attempts"):
        _drive(read_reading(_Clock()), [None] * READ_ATTEMPTS)
