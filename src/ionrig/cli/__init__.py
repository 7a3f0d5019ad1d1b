"""The ``ionrig`` command line: the parser and one handler per command.

The console script is ``ionrig.cli:main``.
"""

from ionrig.cli.main import main

__all__ = ["main"]
