"""The ``ionrig`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _catalog_ls(args) -> int:
    from ionrig.data.catalog import open_catalog

    catalog = open_catalog(args.data)
    for uid in catalog.uids():
        run = catalog[uid]
        start, stop = run.metadata["start"], run.metadata.get("stop") or {}
        print(
            f"{uid[:8]}  {start.get('plan_name', '?'):28s} {stop.get('exit_status', 'open'):8s} "
            f"rig={start.get('rig', '?')}"
        )
    return 0


def _catalog_show(args) -> int:
    from ionrig.data.catalog import open_catalog

    catalog = open_catalog(args.data)
    matches = [uid for uid in catalog.uids() if uid.startswith(args.uid)] if args.uid else []
    if len(matches) != 1:
        hint = (
            f"in {catalog.location.root} (`ionrig catalog ls` lists them)"
            if not matches
            else f"({', '.join(m[:8] for m in matches[:5])}{' …' * (len(matches) > 5)}): "
            "give a longer uid prefix"
        )
        print(f"error: {len(matches)} runs match {args.uid!r} {hint}", file=sys.stderr)
        catalog.close()
        return 2
    run = catalog[matches[0]]
    print(
        json.dumps(
            {"start": run.metadata["start"], "stop": run.metadata.get("stop")},
            indent=2,
            default=str,
        )
    )
    for stream in run:
        print(f"stream {stream}: {', '.join(k for k in run[stream] if not k.startswith('ts_'))}")
    return 0


def _catalog_serve(args) -> int:
    from ionrig.data.catalog import serve_catalog

    print(f"serving the catalog on http://{args.host}:{args.port} (Ctrl-C stops)")
    serve_catalog(args.data, host=args.host, port=args.port, api_key=args.api_key)
    return 0


def _catalog_recover(args) -> int:
    from ionrig.data.catalog import open_catalog
    from ionrig.data.documents import recover_runs

    catalog = open_catalog(args.data)
    recovered = recover_runs(catalog)
    for run in recovered:
        late = ", ".join(f"{key} {n}" for key, n in run.records_recovered.items())
        late = f", records found in its files after its last event: {late}" if late else ""
        print(f"recovered {run.uid}: {run.n_events} events{late}, closed as abort (process ended)")
    if not recovered:
        print("nothing to recover: every journaled run has its stop document")
    return 0


def _run_by_reference(catalog, reference: str):
    """A run by start-uid prefix, or by position: -1 is the newest run."""
    try:
        position = int(reference)
    except ValueError:
        position = None
    if position is not None and position < 0:
        uids = catalog.uids()
        if -position > len(uids):
            raise ValueError(f"run {reference}: the catalog holds {len(uids)} runs")
        return catalog[uids[position]]
    matches = [uid for uid in catalog.uids() if uid.startswith(reference)]
    if len(matches) != 1:
        raise ValueError(f"{len(matches)} runs match {reference!r} (give a longer uid prefix)")
    return catalog[matches[0]]


def _export(args) -> int:
    from pathlib import Path

    from ionrig.data.catalog import open_catalog
    from ionrig.data.export import export_nwb_run

    catalog = open_catalog(args.data)
    try:
        run = _run_by_reference(catalog, args.run)
        start = run.metadata["start"]
        out = args.out or Path(f"{start.get('plan_name', 'run')}-{start['uid'][:8]}.nwb")
        result = export_nwb_run(run, out, overwrite=args.force)
    finally:
        catalog.close()
    what = f"{result.n_sweeps} sweeps" if result.n_sweeps else f"{result.n_rois} ROIs"
    print(f"wrote {result.path} ({result.plan_name} run {result.uid}, {what})")
    return 0


def _report(args) -> int:
    from ionrig.data.catalog import open_catalog
    from ionrig.reports.report import write_report

    catalog = open_catalog(args.data)
    try:
        runs = [_run_by_reference(catalog, reference) for reference in args.runs]
        index = write_report(runs, args.out, catalog=catalog)
    finally:
        catalog.close()
    print(f"report of {len(runs)} run{'s' * (len(runs) != 1)} written to {index}")
    return 0


def _live_proxy(args) -> int:
    from ionrig.bench.publish import run_proxy

    def ready() -> None:
        print(
            f"forwarding documents from {args.host}:{args.in_port} to {args.host}:"
            f"{args.out_port} (Ctrl-C stops)",
            flush=True,
        )

    run_proxy(args.in_port, args.out_port, host=args.host, on_ready=ready)
    return 0


def _live_print(args) -> int:
    from ionrig.bench.publish import print_documents

    print_documents(args.address)
    return 0


def _demo(args) -> int:
    from ionrig.bench.demo import run_demo
    from ionrig.data.catalog import DataLocation

    report_dir = args.report or DataLocation.at(args.data).root / "report"
    result = run_demo(
        seed=args.seed,
        time_scale=args.time_scale,
        n_pairs=args.pairs,
        data_directory=args.data,
        report_directory=report_dir,
    )
    print(f"run {result.uid} stored in {result.data_directory}")
    print(f"{'cell':8s} {'measured [Mg2+]i':>17s} {'true [Mg2+]i':>13s} {'error':>8s}")
    worst = 0.0
    for cell in result.cells:
        worst = max(worst, abs(cell.relative_error))
        print(
            f"{cell.roi:8s} {cell.measured_mg_mM:14.3f} mM {cell.true_mg_mM:10.3f} mM "
            f"{100 * cell.relative_error:+7.1f} %"
        )
    verdict = "within" if worst <= 0.15 else "NOT within"
    print(f"every cell {verdict} 15 % of the simulator's truth (worst {100 * worst:.1f} %)")
    print(f"report: {result.report}")
    return 0 if worst <= 0.15 else 1


def _doctor(args) -> int:
    from ionrig.rig.doctor import run_doctor

    report = run_doctor(
        args.rig, data_dir=args.data, min_free_GB=args.min_free_gb, timeout_s=args.timeout_s
    )
    print(report.table())
    return report.exit_code


def _run(args) -> int:
    from ionrig.bench.runner import run_command

    return run_command(
        args.plan, args.params, rig=args.rig, data=args.data, time_scale=args.time_scale
    )


def _simulate(args) -> int:
    import signal
    import threading

    from ionrig.simulators import DEFAULT_KINDS, ScaledClock, serve_tcp

    if args.instrument not in DEFAULT_KINDS:
        print(
            f"error: instrument must be one of {', '.join(sorted(DEFAULT_KINDS))}; "
            f"got {args.instrument!r}",
            file=sys.stderr,
        )
        return 2
    instrument = DEFAULT_KINDS[args.instrument](ScaledClock(args.time_scale))
    stop = threading.Event()
    # Explicit handlers: a process started in the background may inherit SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with serve_tcp(instrument, args.tcp, host=args.host) as server:
        print(f"simulated {args.instrument} on {server.url} (Ctrl-C stops)", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def _queue(args) -> int:
    from ionrig.night.queue_command import queue_cli

    return queue_cli(args)


def _shell(args) -> int:
    from ionrig.bench.shell import launch_shell

    return launch_shell(args.rig, data=args.data, time_scale=args.time_scale)


def _parser() -> argparse.ArgumentParser:
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
    _solutions_parser(commands)

    demo = commands.add_parser("demo", help="340/380 time course on the simulated rig")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    demo.add_argument("--pairs", type=int, default=20, help="340/380 pairs (default 20)")
    demo.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="folder for the run's HTML report (default: report/ in the data directory)",
    )
    demo.set_defaults(func=_demo)

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
    simulate.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    simulate.set_defaults(func=_simulate)

    doctor = commands.add_parser(
        "doctor", help="check a rig's instruments, wiring, solutions and disk; runs no plan"
    )
    doctor.add_argument("--rig", default="sim", help="'sim' or a rig file path (default sim)")
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
    doctor.set_defaults(func=_doctor)

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
    run.add_argument("--rig", default="sim", help="'sim' or a rig file path (default sim)")
    run.add_argument("--data", default=argparse.SUPPRESS, help="data directory (as ionrig --data)")
    run.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="simulated seconds per real second (simulated rigs; default: the rig file's)",
    )
    run.set_defaults(func=_run)

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
    export.add_argument(
        "--data", default=argparse.SUPPRESS, help="data directory (as ionrig --data)"
    )
    export.set_defaults(func=_export)

    live = commands.add_parser("live", help="watch running plans' documents over 0MQ")
    live_sub = live.add_subparsers(dest="live_command", required=True)
    proxy = live_sub.add_parser(
        "proxy", help="forward documents from publishers to watchers (bluesky's 0MQ proxy)"
    )
    proxy.add_argument("--in-port", type=int, default=5577, help="publishers' port (default 5577)")
    proxy.add_argument("--out-port", type=int, default=5578, help="watchers' port (default 5578)")
    proxy.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    proxy.set_defaults(func=_live_proxy)
    printer = live_sub.add_parser("print", help="print one line per event of every running plan")
    printer.add_argument(
        "--address", default="localhost:5578", help="the proxy's output (default localhost:5578)"
    )
    printer.set_defaults(func=_live_print)

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
    report.add_argument(
        "--data", default=argparse.SUPPRESS, help="data directory (as ionrig --data)"
    )
    report.set_defaults(func=_report)

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
    q_add.add_argument("params", nargs="*", metavar="KEY=VALUE", help="plan parameters")
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
        q_parser.set_defaults(func=_queue)
    for name in ("status", "history"):
        queue_sub.choices[name].set_defaults(func=_queue)

    shell = commands.add_parser(
        "shell", help="IPython on a session: RE, rig, devices, plans, catalog, %%mov, await"
    )
    shell.add_argument("--rig", default="sim", help="'sim' or a rig file path (default sim)")
    shell.add_argument(
        "--data", default=argparse.SUPPRESS, help="data directory (as ionrig --data)"
    )
    shell.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="simulated seconds per real second (simulated rigs; default: the rig file's)",
    )
    shell.set_defaults(func=_shell)

    catalog = commands.add_parser("catalog", help="the run catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True)
    sub.add_parser("ls", help="list runs, oldest first").set_defaults(func=_catalog_ls)
    show = sub.add_parser("show", help="start/stop documents and streams of one run")
    show.add_argument("uid", help="start uid or its unique prefix")
    show.set_defaults(func=_catalog_show)
    serve = sub.add_parser("serve", help="own the catalog and serve it over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None, help="required for a non-loopback address")
    serve.set_defaults(func=_catalog_serve)
    sub.add_parser(
        "recover", help="rebuild runs whose process ended before their stop document"
    ).set_defaults(func=_catalog_recover)
    return parser


def _solutions_new(args) -> int:
    from ionrig.rig.solutions import write_starter

    print(f"wrote {write_starter(args.path, force=args.force)}")
    return 0


def _solutions_check(args) -> int:
    from ionrig.rig.solutions import check_solutions

    paths = args.paths or args.solutions or ()
    status, text = check_solutions(paths, bath_tolerance_mOsm=args.bath_tolerance_mOsm)
    print(text, file=sys.stderr if status else sys.stdout)
    return status


def _solutions_components(args) -> int:
    from ionrig.rig.solutions import list_components

    print(list_components())
    return 0


def _solutions_parser(commands) -> None:
    solutions = commands.add_parser("solutions", help="the lab's solutions files")
    sub = solutions.add_subparsers(dest="solutions_command", required=True)
    new = sub.add_parser("new", help="write a commented starter solutions file")
    new.add_argument("path", help="where to write it (e.g. solutions.yaml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=_solutions_new)
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
    check.set_defaults(func=_solutions_check)
    sub.add_parser("components", help="the components a recipe may list").set_defaults(
        func=_solutions_components
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # `ionrig run PLAN --rig X k=v`: KEY=VALUE items after an option
        if getattr(args, "func", None) is not _run or any(e.startswith("-") for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.params = [*args.params, *extras]
    from ionrig.chemistry import ENVIRONMENT_VARIABLE

    previous = os.environ.get(ENVIRONMENT_VARIABLE)
    if args.solutions:  # --solutions wins over $IONRIG_SOLUTIONS and the rig file
        os.environ[ENVIRONMENT_VARIABLE] = os.pathsep.join(args.solutions)
    try:
        return args.func(args)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a directory that cannot be made, a port that cannot be bound
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is None:
            os.environ.pop(ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[ENVIRONMENT_VARIABLE] = previous


if __name__ == "__main__":
    sys.exit(main())
