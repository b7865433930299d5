"""``python -m syncdp``: the command line."""

from __future__ import annotations

import sys

from syncdp.cli import main

if __name__ == "__main__":
    sys.exit(main())
