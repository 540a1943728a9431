"""heyjoe: a notebook research workbench for a personal voice assistant.

Notebooks import what they need from the submodules; the few names here are the
ones almost every notebook uses.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
