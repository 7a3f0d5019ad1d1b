"""The ``ionrig`` argument parser: one small function per command (group), each routing to its
handler in :mod:`ionrig.cli.commands` (``args.func``)."""

from __future__ import annotations

import argparse

from ionrig.cli import commands as handlers

__all__ = ["build_parser"]

_TIME_SCALE_HELP = "simulated seconds per real second (default 1)"
_SESSION_TIME_SCALE_HELP = (
    "simulated seconds per real second (simulated rigs; default: the rig file's)"
)
_RIG_HELP = "'sim' or a rig file path (default sim)"
_DATA_HELP = "data directory (as ionrig --data)"


def _add_solutions(commands) -> None:
    """``ionrig solutions new|check|components|schema``."""
    solutions = commands.add_parser("solutions", help="the lab's solutions files")
    sub = solutions.add_subparsers(dest="solutions_command", required=True)
    new = sub.add_parser("new", help="write a commented starter solutions file")
    new.add_argument("path", help="where to write it (e.g. solutions.yaml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=handlers.solutions_new_command)
    check = sub.add_parser(
        "check", help="free ions, osmolality, ionic strength and junction potentials"
    )
    check.add_argument(
        "paths", nargs="*", metavar="PATH", help="solutions files, layered (default: as a run)"
    )
    check.add_argument(
        "--bath-tolerance-mOsm",
        type=float,
        default=10.0,
        help="warn when solutions meant to be isosmotic differ by more (default 10)",
    )
    check.set_defaults(func=handlers.solutions_check_command)
    sub.add_parser("components", help="the components a recipe may list").set_defaults(
        func=handlers.solutions_components_command
    )
    sub.add_parser(
        "schema", help="print the solutions file's JSON schema (for editors and validators)"
    ).set_defaults(func=handlers.solutions_schema_command)


def _add_demo(commands) -> None:
    """``ionrig demo``."""
    demo = commands.add_parser("demo", help="340/380 time course on the simulated rig")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    demo.add_argument("--time-scale", type=float, default=1.0, help=_TIME_SCALE_HELP)
    demo.add_argument("--pairs", type=int, default=20, help="340/380 pairs (default 20)")
    demo.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="folder for the run's HTML report (default: report/ in the data directory)",
    )
    demo.set_defaults(func=handlers.demo_command)


def _add_simulate(commands) -> None:
    """``ionrig simulate INSTRUMENT --tcp PORT``."""
    simulate = commands.add_parser(
        "simulate", help="serve a simulated serial instrument on a loopback TCP port"
    )
    simulate.add_argument("instrument", help="lambda10-3, dg4, fw102c or ne500")
    simulate.add_argument(
        "--tcp",
        type=int,
        required=True,
        metavar="PORT",
        help="TCP port; reach it as socket://127.0.0.1:PORT",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    simulate.add_argument("--time-scale", type=float, default=1.0, help=_TIME_SCALE_HELP)
    simulate.set_defaults(func=handlers.simulate_command)


def _add_doctor(commands) -> None:
    """``ionrig doctor``."""
    doctor = commands.add_parser(
        "doctor", help="check a rig's instruments, wiring, solutions and disk; runs no plan"
    )
    doctor.add_argument("--rig", default="sim", help=_RIG_HELP)
    doctor.add_argument(
        "--data", default=argparse.SUPPRESS, help="data directory to check (as ionrig --data)"
    )
    doctor.add_argument(
        "--min-free-gb",
        type=float,
        default=10.0,
        help="warn below this much free disk space, GB (default 10)",
    )
    doctor.add_argument(
        "--timeout-s",
        type=float,
        default=10.0,
        help="seconds each check may take before it fails (default 10)",
    )
    doctor.set_defaults(func=handlers.doctor_command)


def _add_run(commands) -> None:
    """``ionrig run PLAN KEY=VALUE …``."""
    run = commands.add_parser(
        "run", help="run a plan of ionrig.plans by name: ionrig run wash bath_volumes=3"
    )
    run.add_argument("plan", nargs="?", help="plan name (an unknown name lists the plans)")
    run.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="plan parameters: Python literals or text (n_pairs=10 solution=hbss)",
    )
    run.add_argument("--rig", default="sim", help=_RIG_HELP)
    run.add_argument("--data", default=argparse.SUPPRESS, help=_DATA_HELP)
    run.add_argument("--time-scale", type=float, default=None, help=_SESSION_TIME_SCALE_HELP)
    run.add_argument(
        "--schema",
        action="store_true",
        help="print the JSON Schema of the plan's parameters (with units) and run nothing",
    )
    run.set_defaults(func=handlers.run_plan_command)


def _add_export(commands) -> None:
    """``ionrig export RUN --nwb``."""
    export = commands.add_parser("export", help="write a stored run to a file for sharing")
    export.add_argument("run", help="start uid or its unique prefix, or -1 for the newest run")
    export.add_argument(
        "--nwb",
        action="store_true",
        required=True,
        help="as Neurodata Without Borders (NWB 2, HDF5); the only format so far",
    )
    export.add_argument("--out", default=None, help="output file (default ./<plan>-<uid8>.nwb)")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--data", default=argparse.SUPPRESS, help=_DATA_HELP)
    export.set_defaults(func=handlers.export_command)


def _add_live(commands) -> None:
    """``ionrig live proxy|print``."""
    live = commands.add_parser("live", help="watch running plans' documents over 0MQ")
    live_sub = live.add_subparsers(dest="live_command", required=True)
    proxy = live_sub.add_parser(
        "proxy", help="forward documents from publishers to watchers (bluesky's 0MQ proxy)"
    )
    proxy.add_argument("--in-port", type=int, default=5577, help="publishers' port (default 5577)")
    proxy.add_argument("--out-port", type=int, default=5578, help="watchers' port (default 5578)")
    proxy.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    proxy.set_defaults(func=handlers.live_proxy_command)
    printer = live_sub.add_parser("print", help="print one line per event of every running plan")
    printer.add_argument(
        "--address", default="localhost:5578", help="the proxy's output (default localhost:5578)"
    )
    printer.set_defaults(func=handlers.live_print_command)


def _add_report(commands) -> None:
    """``ionrig report RUN … --out DIR``."""
    report = commands.add_parser(
        "report", help="HTML report (metadata, key numbers, figures) of stored runs"
    )
    report.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="start uid or its unique prefix, or -1 for the newest run (-2 the one before, …)",
    )
    report.add_argument(
        "--out", required=True, help="folder for index.html and the figures (created)"
    )
    report.add_argument("--data", default=argparse.SUPPRESS, help=_DATA_HELP)
    report.set_defaults(func=handlers.report_command)


def _add_queue(commands) -> None:
    """``ionrig queue start|stop|status|add|history|summary|regenerate``."""
    queue = commands.add_parser("queue", help="unattended nights on the queue server")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    q_start = queue_sub.add_parser(
        "start", help="start Redis, the catalog server and the RE Manager; open the rig"
    )
    q_start.add_argument("--config", help="queue settings YAML (rig, watchdogs, notify)")
    q_start.add_argument("--rig", help="rig file name or path (overrides the settings)")
    q_start.add_argument("--time-scale", type=float, help="simulated rigs: time scale")
    q_start.add_argument("--redis", help="HOST:PORT of a running Redis (default: start one)")
    q_start.add_argument(
        "--no-autostart", action="store_true", help="do not run items as they are added"
    )
    q_stop = queue_sub.add_parser("stop", help="stop after the running item, then shut down")
    q_stop.add_argument("--force", action="store_true", help="stop now (the run is recovered)")
    q_stop.add_argument("--keep-redis", action="store_true", help="leave Redis running")
    queue_sub.add_parser("status", help="the manager's state and queue")
    q_add = queue_sub.add_parser("add", help="add a plan: ionrig queue add PLAN key=value …")
    q_add.add_argument("plan", help="make_safe, ratiometric_timecourse, record_cell, …")
    q_add.add_argument(
        "params",
        nargs="*",
        metavar="KEY=VALUE",
        help="plan parameters: Python literals or text (n_pairs=10 solution=hbss)",
    )
    queue_sub.add_parser("history", help="items run so far, with exit status")
    q_summary = queue_sub.add_parser("summary", help="the morning summary of the night")
    q_summary.add_argument("--hours", type=float, default=24.0, help="how far back (default 24 h)")
    q_summary.add_argument(
        "--figures", help="folder for the night's figure (default: <data>/queue/summary)"
    )
    q_regen = queue_sub.add_parser(
        "regenerate", help="regenerate existing_plans_and_devices.yaml of the startup module"
    )
    q_regen.add_argument(
        "--out", help="folder (default: src/ionrig/night/queue_startup of the source)"
    )
    for q_parser in (q_start, q_stop, q_add, q_summary, q_regen):
        q_parser.set_defaults(func=handlers.queue_command)
    for name in ("status", "history"):
        queue_sub.choices[name].set_defaults(func=handlers.queue_command)


def _add_shell(commands) -> None:
    """``ionrig shell``."""
    shell = commands.add_parser(
        "shell", help="IPython on a session: RE, rig, devices, plans, catalog, %%mov, await"
    )
    shell.add_argument("--rig", default="sim", help=_RIG_HELP)
    shell.add_argument("--data", default=argparse.SUPPRESS, help=_DATA_HELP)
    shell.add_argument("--time-scale", type=float, default=None, help=_SESSION_TIME_SCALE_HELP)
    shell.set_defaults(func=handlers.shell_command)


def _add_catalog(commands) -> None:
    """``ionrig catalog ls|show|serve|recover``."""
    catalog = commands.add_parser("catalog", help="the run catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True)
    sub.add_parser("ls", help="list runs, oldest first").set_defaults(
        func=handlers.catalog_ls_command
    )
    show = sub.add_parser("show", help="start/stop documents and streams of one run")
    show.add_argument("uid", help="start uid or its unique prefix")
    show.set_defaults(func=handlers.catalog_show_command)
    serve = sub.add_parser("serve", help="own the catalog and serve it over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None, help="required for a non-loopback address")
    serve.set_defaults(func=handlers.catalog_serve_command)
    sub.add_parser(
        "recover", help="rebuild runs whose process ended before their stop document"
    ).set_defaults(func=handlers.catalog_recover_command)


def _add_rig(commands) -> None:
    """``ionrig rig schema``."""
    rig = commands.add_parser("rig", help="rig files")
    sub = rig.add_subparsers(dest="rig_command", required=True)
    sub.add_parser(
        "schema", help="print the rig file's JSON schema (for editors and validators)"
    ).set_defaults(func=handlers.rig_schema_command)


def build_parser() -> argparse.ArgumentParser:
    """The ``ionrig`` parser: global ``--data`` and ``--solutions``, then one command."""
    parser = argparse.ArgumentParser(
        prog="ionrig", description="Run Mag-fura-2 / patch-clamp experiments as bluesky plans."
    )
    parser.add_argument(
        "--data",
        default=None,
        help="data directory (default: $IONRIG_DATA or the user data directory)",
    )
    parser.add_argument(
        "--solutions",
        action="append",
        default=None,
        metavar="PATH",
        help="a solutions file (repeat to layer several); replaces $IONRIG_SOLUTIONS and the "
        "rig file's",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_solutions,
        _add_demo,
        _add_simulate,
        _add_doctor,
        _add_run,
        _add_export,
        _add_live,
        _add_report,
        _add_queue,
        _add_shell,
        _add_catalog,
        _add_rig,
    ):
        add(commands)
    return parser
