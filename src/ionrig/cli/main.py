"""The ``ionrig`` command line: ``main`` parses (:mod:`ionrig.cli.parser`) and runs the command's
handler (:mod:`ionrig.cli.commands`), turning errors into exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ionrig.cli.commands import run_plan_command
from ionrig.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ionrig`` command in ``argv`` (default: the process's arguments); returns the
    exit code (0 done, 1 an OS error, 2 bad usage or a refused request, 130 interrupted)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # `ionrig run PLAN --rig X k=v`: KEY=VALUE items after an option
        running_a_plan = getattr(args, "func", None) is run_plan_command
        if not running_a_plan or any(e.startswith("-") for e in extras):
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
