"""JavaScript dialogs of one tab: whether one is open, answering it, an automatic policy,
and failing at once what an open dialog would hold forever."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple, cast

from syncdp._checks import check_timeout
from syncdp.connection import EventExpectation
from syncdp.exceptions import DialogOpenError, InvalidCommand, SyncdpError
from syncdp.page.core import BLOCKED_BY_BEFOREUNLOAD, BLOCKED_BY_DIALOG, PageCore

__all__ = ["Dialogs", "DIALOG_POLICIES"]

logger = logging.getLogger(__name__)

DIALOG_POLICIES = (None, "accept", "dismiss")


class Dialogs:
    """The dialog side of a tab (see :meth:`Tab.handle_dialog`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core
        self._callback: Optional[int] = None
        # Lifecycle waits of go_to()/refresh() in progress, with what they wait for: a
        # dialog opening (no policy) wakes them with DialogOpenError. Guarded by _lock
        # (the reader thread reads it).
        self._lock = threading.Lock()
        self._waits: List[Tuple[EventExpectation, str]] = []
        core.connection.hooks.add_reader_hook("Page.javascriptDialogOpening", self._on_opening)

    def _on_opening(self, event: Dict[str, Any]) -> None:
        """Reader hook: fail what the dialog blocks, at once (never blocks itself)."""
        if self._core.dialog_policy is not None:
            return  # the policy callback answers it; blocked commands then complete
        params = event.get("params") or {}
        kind, message = str(params.get("type", "")), str(params.get("message", ""))
        blocked = BLOCKED_BY_DIALOG
        if kind == "beforeunload":
            blocked += BLOCKED_BY_BEFOREUNLOAD  # the navigation waits for the answer
        self._core.connection.hooks.fail_pending(
            lambda method: DialogOpenError(kind, message, method),
            lambda method: method.startswith(blocked),
        )
        # A load never completes while a dialog is open: go_to()/refresh() must not wait
        # for it until their timeout either. The waiting thread raises this error.
        with self._lock:
            waits = list(self._waits)
        for expectation, action in waits:
            expectation.fail(DialogOpenError(kind, message, action))

    @contextlib.contextmanager
    def interrupting(self, expectation: EventExpectation, action: str) -> Iterator[None]:
        """While inside, a dialog opening fails ``expectation`` with :class:`DialogOpenError`."""
        entry = (expectation, action)
        with self._lock:
            self._waits.append(entry)
        try:
            yield
        finally:
            with self._lock:
                self._waits.remove(entry)

    def is_open(self) -> bool:
        """Whether a JavaScript dialog is open."""
        return bool(self._core.connection.dialog)

    def message(self) -> str:
        """The open dialog's message; ``SyncdpError`` when none is open."""
        dialog = self._core.connection.dialog
        if not dialog:
            raise SyncdpError("no JavaScript dialog is open")
        return str((dialog.get("params") or {}).get("message", ""))

    def handle(self, accept: bool, prompt_text: Optional[str], timeout: float) -> None:
        """Answer the open dialog (see :meth:`Tab.handle_dialog`)."""
        if not isinstance(accept, bool):
            # bool("no") is True: a truthy string must not accept a dialog by accident.
            raise InvalidCommand("accept must be True or False, got %r" % (accept,))
        if prompt_text is not None and not isinstance(prompt_text, str):
            raise InvalidCommand("prompt_text must be a str or None, got %r" % (prompt_text,))
        timeout = cast(float, check_timeout(timeout, allow_none=False))
        connection = self._core.connection
        if not connection.dialog:
            raise SyncdpError("no JavaScript dialog is open")
        params: Dict[str, Any] = {"accept": accept}
        if prompt_text is not None:
            params["promptText"] = prompt_text
        with connection.expect_event("Page.javascriptDialogClosed", timeout=timeout):
            self._core.send("Page.handleJavaScriptDialog", params, timeout=timeout)

    def set_policy(self, policy: Optional[str]) -> None:
        """Answer every dialog automatically: ``"accept"``, ``"dismiss"``, or ``None`` (off)."""
        if policy not in DIALOG_POLICIES:
            raise InvalidCommand(
                "dialog_policy must be None, 'accept' or 'dismiss', got %r" % (policy,)
            )
        connection = self._core.connection
        if self._callback is not None:
            connection.remove_callback(self._callback)
            self._callback = None
        self._core.dialog_policy = policy
        if policy is not None:
            # Not self: a callback holding the tab would keep a forgotten Browser alive.
            self._callback = connection.register_callback(
                "Page.javascriptDialogOpening", _answerer(connection, policy)
            )


def _answerer(connection: Any, policy: str) -> Any:
    accept = policy == "accept"

    def answer(event: Dict[str, Any]) -> None:
        params: Dict[str, Any] = {"accept": accept}
        opening = event.get("params") or {}
        if accept and opening.get("type") == "prompt":
            # Accepting a prompt like a user pressing OK: its default text.
            params["promptText"] = str(opening.get("defaultPrompt") or "")
        try:
            connection.send("Page.handleJavaScriptDialog", params, timeout=10)
        except SyncdpError as exc:
            logger.warning("automatic dialog %s failed: %s", policy, exc)

    return answer
