"""``ionrig run PLAN KEY=VALUE …`` and ``ionrig queue add PLAN KEY=VALUE …`` read the same
strings into the same values (one parser, ionrig.bench.params), from the command line down to
what reaches the plan or the queue."""

import pytest

from ionrig.bench.params import parse_key_values, parse_value
from ionrig.cli import main

ITEMS = [
    "interval_s=None",  # None
    "name='None'",  # the text None
    "n_pairs=10",  # numbers
    "exposure_ms=12.5",
    "scale=1e3",
    "rois=[[64, 64, 8], [10, 20, 5]]",  # lists
    "md={'cell': 'c1', 'n': 2}",  # dicts
    "quoted='42'",  # quoted strings stay text
    "solution=hbss",  # bare words are text
    "note=two words = fine",
    "flag=True",
    "lower=true",  # not a Python literal: text
    "empty=",
]
EXPECTED = {
    "interval_s": None,
    "name": "None",
    "n_pairs": 10,
    "exposure_ms": 12.5,
    "scale": 1000.0,
    "rois": [[64, 64, 8], [10, 20, 5]],
    "md": {"cell": "c1", "n": 2},
    "quoted": "42",
    "solution": "hbss",
    "note": "two words = fine",
    "flag": True,
    "lower": "true",
    "empty": "",
}


def _values_run_passes_to_the_plan(monkeypatch, items):
    seen = {}

    def run_plan(plan_name, params, **kw):
        seen.update(params)
        raise KeyboardInterrupt  # stop here: nothing runs

    monkeypatch.setattr("ionrig.bench.runner.run_plan", run_plan)
    assert main(["run", "wash", *items]) == 130
    return seen


def _values_queue_add_sends(monkeypatch, items):
    seen = {}

    def add_item(plan, args=(), kwargs=None, *, data_dir=None):
        seen.update(kwargs)
        return {"success": True, "item": {"item_uid": "x"}, "qsize": 1}

    monkeypatch.setattr("ionrig.night.queue_command.add_item", add_item)
    assert main(["queue", "add", "wash", *items]) == 0
    return seen


def test_run_and_queue_add_read_the_same_values(monkeypatch, capsys):
    assert parse_key_values(ITEMS) == EXPECTED
    assert _values_run_passes_to_the_plan(monkeypatch, ITEMS) == EXPECTED
    assert _values_queue_add_sends(monkeypatch, ITEMS) == EXPECTED


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["n_pairs"], "expected KEY=VALUE, got 'n_pairs'"),
        (["2x=1"], "'2x' in '2x=1' is not a parameter name"),
        (["n_pairs=1", "n_pairs=2"], "n_pairs is given twice"),
    ],
)
def test_both_commands_refuse_the_same_malformed_items(items, message, capsys):
    assert main(["run", "wash", *items]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert main(["queue", "add", "wash", *items]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_the_rig_is_never_a_key_value(capsys):
    assert main(["run", "wash", "rig=sim"]) == 2
    assert "the rig is chosen with --rig" in capsys.readouterr().err
    assert main(["queue", "add", "wash", "rig=sim"]) == 2
    assert "the queue passes the rig by name" in capsys.readouterr().err


def test_a_value_is_a_literal_or_its_text():
    assert parse_value("None") is None
    assert parse_value("[1, 2.5]") == [1, 2.5]
    assert parse_value("hbss_probenecid") == "hbss_probenecid"
    assert parse_value("{operator: ab}") == "{operator: ab}"  # not a literal: text
