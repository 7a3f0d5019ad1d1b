"""The ``ionrig`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _catalog_ls(args) -> int:
    from ionrig.catalog import open_catalog

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
    from ionrig.catalog import open_catalog

    catalog = open_catalog(args.data)
    matches = [uid for uid in catalog.uids() if uid.startswith(args.uid)]
    if len(matches) != 1:
        print(f"error: {len(matches)} runs match {args.uid!r}", file=sys.stderr)
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
    from ionrig.catalog import serve_catalog

    print(f"serving the catalog on http://{args.host}:{args.port} (Ctrl-C stops)")
    serve_catalog(args.data, host=args.host, port=args.port, api_key=args.api_key)
    return 0


def _catalog_recover(args) -> int:
    from ionrig.catalog import open_catalog
    from ionrig.documents import recover_runs

    catalog = open_catalog(args.data)
    recovered = recover_runs(catalog)
    for run in recovered:
        print(f"recovered {run.uid}: {run.n_events} events, closed as abort (process ended)")
    if not recovered:
        print("nothing to recover: every journaled run has its stop document")
    return 0


def _demo(args) -> int:
    from ionrig.demo import run_demo

    result = run_demo(
        seed=args.seed, time_scale=args.time_scale, n_pairs=args.pairs, data_directory=args.data
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
    return 0 if worst <= 0.15 else 1


def _simulate(args) -> int:
    import signal
    import threading

    from ionrig.simulators import ScaledClock, serve_tcp
    from ionrig.simulators._serial_url import DEFAULT_KINDS

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ionrig", description="Run Mag-fura-2 / patch-clamp experiments as bluesky plans."
    )
    parser.add_argument(
        "--data",
        default=None,
        help="data directory (default: $IONRIG_DATA or the user data directory)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="340/380 time course on the simulated rig")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    demo.add_argument("--pairs", type=int, default=20, help="340/380 pairs (default 20)")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
