"""Optional parts: each command that needs an extra names it when it is missing, before doing
anything, and the table of extras matches pyproject.toml."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from ionrig.cli import main
from ionrig.cli.extras import EXTRAS, MissingExtra, missing_modules, require_extra

REPO = Path(__file__).resolve().parents[3]
# distribution name in pyproject → the module it installs
MODULE_OF = {
    "bluesky-queueserver": "bluesky_queueserver",
    "bluesky-queueserver-api": "bluesky_queueserver_api",
    "fakeredis": "fakeredis",
    "ophyd": "ophyd",
    "ipython": "IPython",
    "matplotlib": "matplotlib",
    "pyzmq": "zmq",
    "pynwb": "pynwb",
    "pymmcore-plus": "pymmcore_plus",
}


def test_the_table_of_extras_is_pyprojects():
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name, extra in EXTRAS.items():
        distributions = [re.split(r"[<>=!~\[ ]", d)[0] for d in optional[name]]
        assert tuple(MODULE_OF[d] for d in distributions) == extra.modules, name
    (everything,) = optional["all"]
    assert everything == f"ionrig[{','.join(EXTRAS)}]"


def test_every_extra_is_installed_for_the_suite():
    for name in EXTRAS:
        assert missing_modules(name) == []
        require_extra(name, "anything")


@pytest.fixture
def hide(monkeypatch):
    """Make modules look uninstalled to ``importlib.util.find_spec``."""
    real = importlib.util.find_spec

    def hide_modules(*names: str) -> None:
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a, **k: None if name in names else real(name, *a, **k),
        )

    return hide_modules


def test_a_missing_module_names_the_extra_to_install(hide):
    hide("pynwb")
    with pytest.raises(MissingExtra) as error:
        require_extra("nwb", "ionrig export --nwb")
    message = str(error.value)
    assert "`ionrig export --nwb`" in message and "pynwb not installed" in message
    assert 'python -m pip install "ionrig[nwb]"' in message


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (["report", "-1", "--out", "report"], "matplotlib", "reports"),
        (["demo"], "matplotlib", "reports"),
        (["export", "-1", "--nwb"], "pynwb", "nwb"),
        (["queue", "status"], "bluesky_queueserver", "night"),
        (["shell"], "IPython", "shell"),
        (["live", "print"], "zmq", "shell"),
    ],
)
def test_each_command_says_which_extra_it_needs(argv, hidden, extra, hide, data_dir, capsys):
    hide(hidden)
    assert main(["--data", str(data_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert f'"ionrig[{extra}]"' in err and hidden in err, err
    assert not any((data_dir / "catalog").glob("*.duckdb")), "it did something first"
