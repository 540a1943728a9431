"""``python -m lib`` is the same as the ``heyjoe`` command."""

import sys

from lib.cli import main

sys.exit(main())
