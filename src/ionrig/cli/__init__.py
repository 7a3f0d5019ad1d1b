"""The ``ionrig`` command line: :mod:`ionrig.cli.parser` builds the parser,
:mod:`ionrig.cli.commands` holds one handler per command, :mod:`ionrig.cli.extras` says which
optional extra a command needs, :mod:`ionrig.cli.main` runs them.

The console script is ``ionrig.cli:main``.
"""

from ionrig.cli.main import main

__all__ = ["main"]
