"""The ionrig command line: demo, catalog ls/show/serve/recover."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ionrig.bench.demo import run_demo
from ionrig.cli import main
from ionrig.data.catalog import open_catalog, serve_catalog


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["catalog", "--help"],
        ["demo", "--help"],
        ["catalog", "serve", "--help"],
        ["rig", "schema", "--help"],
    ],
)
def test_help_everywhere(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    assert "usage: ionrig" in capsys.readouterr().out


def test_rig_schema_prints_the_rig_files_json_schema(capsys):
    import json

    from ionrig.rig import rig_file_json_schema

    assert main(["rig", "schema"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == rig_file_json_schema()
    assert out == json.dumps(rig_file_json_schema(), indent=2) + "\n"


def test_demo_measures_every_cell_within_15_percent(data_dir):
    result = run_demo(seed=4, time_scale=20, n_pairs=8, data_directory=data_dir)
    assert len(result.cells) == 5
    for cell in result.cells:
        assert abs(cell.relative_error) <= 0.15, cell


def test_demo_command_prints_the_table_and_the_catalog_lists_it(data_dir, capsys):
    assert main(["--data", str(data_dir), "demo", "--pairs", "4", "--time-scale", "20"]) == 0
    out = capsys.readouterr().out
    assert "every cell within 15 %" in out
    assert (
        sum(
            line.split()[0].startswith("cell") and "mM" in line for line in out.splitlines() if line
        )
        == 5
    )
    assert main(["--data", str(data_dir), "catalog", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "ratiometric_timecourse" in listing and "success" in listing
    uid_prefix = listing.split()[0]
    assert main(["--data", str(data_dir), "catalog", "show", uid_prefix]) == 0
    shown = capsys.readouterr().out
    assert '"dye": "Mag-fura-2"' in shown and "stream ratio:" in shown


def test_show_unknown_run_exits_2(data_dir, capsys):
    assert main(["--data", str(data_dir), "catalog", "show", "ffffffff"]) == 2
    assert "0 runs match" in capsys.readouterr().err


def test_serving_beyond_loopback_needs_an_api_key(data_dir):
    with pytest.raises(ValueError, match="give an api_key"):
        serve_catalog(data_dir, host="0.0.0.0", port=8999)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_owns_the_catalog_and_others_connect_over_http(data_dir):
    run_demo(seed=1, time_scale=50, n_pairs=2, data_directory=data_dir)
    port = _free_port()
    env = {**os.environ, "IONRIG_DATA": str(data_dir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "ionrig.cli", "catalog", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        serve_file = data_dir / "catalog" / "serve.json"
        deadline = time.monotonic() + 60
        catalog = None
        while time.monotonic() < deadline:
            if serve_file.exists():
                try:
                    catalog = open_catalog(data_dir)
                    len(catalog)
                    break
                except Exception:
                    catalog = None
            time.sleep(0.2)
        assert catalog is not None, "the server never came up"
        assert catalog.remote
        run = catalog[-1]
        assert run.metadata["start"]["plan_name"] == "ratiometric_timecourse"
        assert run["primary"]["camera"].read().shape[0] == 4  # frames through the server
        catalog.close()
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn installs its own handlers
        try:
            server.wait(timeout=30)
        finally:
            server.kill()
            server.wait()
    assert not serve_file.exists()
    local = open_catalog(data_dir)
    assert not local.remote
    local.close()


def test_simulate_serves_an_instrument_that_the_real_driver_drives():
    from ionrig.devices.drivers import SutterLambda10_3

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ionrig.cli",
            "simulate",
            "lambda10-3",
            "--tcp",
            str(port),
            "--time-scale",
            "100",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "socket://127.0.0.1:" in server.stdout.readline()
        wheel = SutterLambda10_3(f"socket://127.0.0.1:{port}", speed=1)
        wheel.move(3)
        assert wheel.position == 3
        wheel.open_shutter()
        wheel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            server.kill()
            server.wait()
            server.stdout.close()
    assert server.returncode == 0


def test_simulate_refuses_unknown_instruments(capsys):
    assert main(["simulate", "lambda99", "--tcp", "5999"]) == 2
    assert "instrument must be one of dg4, fw102c, lambda10-3, ne500" in capsys.readouterr().err
