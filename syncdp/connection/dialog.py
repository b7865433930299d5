"""The JavaScript dialog state of one endpoint, fed on the reader thread.

``Page.javascriptDialogOpening`` sets it and ``Page.javascriptDialogClosed`` clears it before
any later answer is returned, so a command that a dialog blocks can see why.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["DialogState", "DIALOG_CLOSED_EVENT", "DIALOG_OPENING_EVENT"]

DIALOG_OPENING_EVENT = "Page.javascriptDialogOpening"
DIALOG_CLOSED_EVENT = "Page.javascriptDialogClosed"


class DialogState:
    """The open dialog's opening event, or ``{}``."""

    def __init__(self) -> None:
        self._event: Dict[str, Any] = {}

    def opened(self, event: Dict[str, Any]) -> None:
        """A dialog opened (reader thread)."""
        self._event = event

    def closed(self, event: Dict[str, Any]) -> None:
        """The dialog closed (reader thread)."""
        self._event = {}

    @property
    def current(self) -> Dict[str, Any]:
        """The open dialog's ``Page.javascriptDialogOpening`` event, or ``{}``."""
        return self._event
