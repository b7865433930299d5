"""The former home of :mod:`syncdp.devtools.stubgen` (typed CDP stubs: ``syncdp stubs``).

Kept so that ``from syncdp import stubgen`` and ``python -m syncdp.stubgen`` keep working; new
code imports :mod:`syncdp.devtools.stubgen`. Like it, nothing ``import syncdp`` imports imports
this module.
"""

from __future__ import annotations

import sys

from syncdp.devtools import stubgen as _stubgen
from syncdp.devtools.stubgen import (
    MARKER,
    add_arguments,
    generate_stubs,
    main,
    module_name,
    run,
    save_protocol,
)

__all__ = ["generate_stubs", "save_protocol", "add_arguments", "run", "main", "module_name", "MARKER"]

# The CLI builds its help text from this module's docstring: the real module's words.
__doc__ = _stubgen.__doc__

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
