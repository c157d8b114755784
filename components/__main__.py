"""Entry point for ``python -m components``; the commands live in :mod:`components.cli`."""

import sys

from components.cli import main

sys.exit(main())
