"""Development tools that ship with syncdp but stay out of its runtime import path.

:mod:`syncdp.devtools.stubgen` writes typed stubs of a browser's protocol (``syncdp stubs``).
Nothing that ``import syncdp`` imports imports this package; the CLI loads it on demand.
"""
