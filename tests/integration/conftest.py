"""Fixtures for the tab behaviour tests (see tabkit.py): ``server``, ``browser`` (module-scoped,
once per tab mode) and ``tab``. A test module that defines its own fixture of the same name
uses its own."""

from tabkit import browser, server, tab

__all__ = ["browser", "server", "tab"]
