"""The handlers of the ``ionrig`` commands: ``handler(args) -> exit code``; each imports what
its command needs when it runs (``ionrig --help`` stays fast). The parser that routes to them is
:mod:`ionrig.cli.parser`."""

from __future__ import annotations

import json
import sys

from ionrig.cli.extras import require_extra

__all__ = [
    "catalog_ls_command",
    "catalog_recover_command",
    "catalog_serve_command",
    "catalog_show_command",
    "demo_command",
    "doctor_command",
    "export_command",
    "live_print_command",
    "live_proxy_command",
    "queue_command",
    "report_command",
    "rig_schema_command",
    "run_by_reference",
    "run_plan_command",
    "shell_command",
    "simulate_command",
    "solutions_check_command",
    "solutions_components_command",
    "solutions_new_command",
    "solutions_schema_command",
]


def catalog_ls_command(args) -> int:
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


def catalog_show_command(args) -> int:
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


def catalog_serve_command(args) -> int:
    from ionrig.data.catalog import serve_catalog

    print(f"serving the catalog on http://{args.host}:{args.port} (Ctrl-C stops)")
    serve_catalog(args.data, host=args.host, port=args.port, api_key=args.api_key)
    return 0


def catalog_recover_command(args) -> int:
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


def run_by_reference(catalog, reference: str):
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


def export_command(args) -> int:
    from pathlib import Path

    require_extra("nwb", "ionrig export --nwb")

    from ionrig.data.catalog import open_catalog
    from ionrig.data.export import export_nwb_run

    catalog = open_catalog(args.data)
    try:
        run = run_by_reference(catalog, args.run)
        start = run.metadata["start"]
        out = args.out or Path(f"{start.get('plan_name', 'run')}-{start['uid'][:8]}.nwb")
        result = export_nwb_run(run, out, overwrite=args.force)
    finally:
        catalog.close()
    what = f"{result.n_sweeps} sweeps" if result.n_sweeps else f"{result.n_rois} ROIs"
    print(f"wrote {result.path} ({result.plan_name} run {result.uid}, {what})")
    return 0


def report_command(args) -> int:
    require_extra("reports", "ionrig report")
    from ionrig.data.catalog import open_catalog
    from ionrig.reports.report import write_report

    catalog = open_catalog(args.data)
    try:
        runs = [run_by_reference(catalog, reference) for reference in args.runs]
        index = write_report(runs, args.out, catalog=catalog)
    finally:
        catalog.close()
    print(f"report of {len(runs)} run{'s' * (len(runs) != 1)} written to {index}")
    return 0


def live_proxy_command(args) -> int:
    require_extra("shell", "ionrig live proxy")
    from ionrig.bench.publish import run_proxy

    def ready() -> None:
        print(
            f"forwarding documents from {args.host}:{args.in_port} to {args.host}:"
            f"{args.out_port} (Ctrl-C stops)",
            flush=True,
        )

    run_proxy(args.in_port, args.out_port, host=args.host, on_ready=ready)
    return 0


def live_print_command(args) -> int:
    require_extra("shell", "ionrig live print")
    from ionrig.bench.publish import print_documents

    print_documents(args.address)
    return 0


def demo_command(args) -> int:
    require_extra("reports", "ionrig demo")  # it ends with the run's report
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


def doctor_command(args) -> int:
    from ionrig.rig.doctor import run_doctor

    report = run_doctor(
        args.rig, data_dir=args.data, min_free_GB=args.min_free_gb, timeout_s=args.timeout_s
    )
    print(report.table())
    return report.exit_code


def run_plan_command(args) -> int:
    from ionrig.bench.runner import run_command, schema_command

    if args.schema:
        return schema_command(args.plan)
    return run_command(
        args.plan, args.params, rig=args.rig, data=args.data, time_scale=args.time_scale
    )


def simulate_command(args) -> int:
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


def queue_command(args) -> int:
    require_extra("night", "ionrig queue")
    from ionrig.night.queue_command import queue_cli

    return queue_cli(args)


def shell_command(args) -> int:
    require_extra("shell", "ionrig shell")
    from ionrig.bench.shell import launch_shell

    return launch_shell(args.rig, data=args.data, time_scale=args.time_scale)


def solutions_new_command(args) -> int:
    from ionrig.rig.solutions import write_starter

    print(f"wrote {write_starter(args.path, force=args.force)}")
    return 0


def solutions_check_command(args) -> int:
    from ionrig.rig.solutions import check_solutions

    paths = args.paths or args.solutions or ()
    status, text = check_solutions(paths, bath_tolerance_mOsm=args.bath_tolerance_mOsm)
    print(text, file=sys.stderr if status else sys.stdout)
    return status


def solutions_components_command(args) -> int:
    from ionrig.rig.solutions import list_components

    print(list_components())
    return 0


def solutions_schema_command(args) -> int:
    """``ionrig solutions schema``: the solutions file's JSON schema."""
    from ionrig.chemistry import solutions_file_json_schema

    print(json.dumps(solutions_file_json_schema(), indent=2))
    return 0


def rig_schema_command(args) -> int:
    """``ionrig rig schema``: the rig file's JSON schema (for editors and validators)."""
    from ionrig.rig import rig_file_json_schema

    print(json.dumps(rig_file_json_schema(), indent=2))
    return 0
