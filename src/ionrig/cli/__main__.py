"""``python -m ionrig.cli …`` runs the ``ionrig`` command."""

import sys

from ionrig.cli.main import main

sys.exit(main())
