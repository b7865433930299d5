"""Mouse input of one tab: a click at a point, as a user's hand makes it."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from concurrent.futures import Future
from typing import Any, Dict, List

from syncdp.exceptions import CommandError, CommandTimeoutError, DialogOpenError
from syncdp.page.core import PageCore

__all__ = ["Pointer"]

logger = logging.getLogger(__name__)

_MOUSE = "Input.dispatchMouseEvent"
_WAIT_SLICE = 0.1  # waits in slices, so that Ctrl-C lands on every platform
_TIMEOUT = 30.0


class Pointer:
    """The mouse of a tab (see :meth:`Element.click`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core

    def click_at(self, x: float, y: float, button: str, click_count: int) -> None:
        """Move to (x, y), press and release, sent back to back.

        The page gets the three events one after the other (Chromium runs input before
        timers), so no timer's dialog slips between the move and the press, as it did when
        each event waited for the answer to the one before. A dialog that opens while they
        are handled is the click's (``onmousedown``, ``onclick``): it returns. Only a dialog
        that opens in the instant the events travel to the page cannot be told from one
        the click opened: it counts as the click's.

        Raises:
            DialogOpenError: a dialog was open when the click began (the page gets none).
        """
        core = self._core
        core.check_open(_MOUSE)
        core.check_not_crashed(_MOUSE)
        core.prepare()
        core.check_no_dialog(_MOUSE)
        params = {"x": x, "y": y, "button": button, "clickCount": click_count}
        events = [
            {"type": "mouseMoved", "x": x, "y": y},
            dict(params, type="mousePressed"),
            dict(params, type="mouseReleased"),
        ]
        futures = [core.connection.submit({"method": _MOUSE, "params": e}) for e in events]
        deadline = time.monotonic() + _TIMEOUT
        try:
            for future in futures:
                _answer(future, deadline)
        except DialogOpenError:
            # None was open when the events went out (checked above), and the page handles
            # them back to back: the page's handler of the click (onmousedown, onclick)
            # opened it, and the dialog blocks the answers.
            logger.debug("the click at (%s, %s) opened a dialog", x, y)
        finally:
            for future in futures:
                future.cancel()  # answered ones stay answered; the others are forgotten


def _answer(future: "Future[Dict[str, Any]]", deadline: float) -> Dict[str, Any]:
    """The answer to one mouse event: its result, or its error raised."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CommandTimeoutError(_MOUSE, _TIMEOUT)
        done: List[Any] = list(concurrent.futures.wait([future], min(_WAIT_SLICE, left))[0])
        if done:
            break
    response = future.result()
    error = response.get("error")
    if error is not None:
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        raise CommandError(_MOUSE, code if isinstance(code, int) else None, str(message))
    result = response.get("result")
    return result if isinstance(result, dict) else {}
