"""The syncdp exception hierarchy.

Everything syncdp raises on purpose derives from :class:`SyncdpError`. Timeouts are also
builtin :class:`TimeoutError` and lost or refused connections also builtin
:class:`ConnectionError`, so plain ``except TimeoutError`` / ``except ConnectionError``
clauses work without importing anything from syncdp.

This module imports nothing from syncdp.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Type

__all__ = [
    "SyncdpError",
    "InvalidCommand",
    "CommandError",
    "TargetClosedError",
    "TargetCrashedError",
    "CommandTimeoutError",
    "EventTimeoutError",
    "SyncdpConnectionError",
    "ConnectFailedError",
    "ConnectionClosedError",
    "PipeClosedError",
    "DiscoveryError",
    "BrowserNotFoundError",
    "BrowserLaunchError",
    "NavigationError",
    "JavaScriptError",
    "JavaScriptValueError",
    "ExecutionContextDestroyedError",
    "ElementNotFoundError",
    "StaleElementError",
    "DialogOpenError",
    "ReplayMismatchError",
    "IncompatibleRuntimeError",
]



def format_seconds(seconds: float) -> str:
    """``7.94865`` -> ``"7.95"``, ``30.0`` -> ``"30"``: timeouts as people write them."""
    if 0 < abs(seconds) < 0.1:
        return "%.2g" % seconds
    text = "%.2f" % seconds
    return text.rstrip("0").rstrip(".")


class SyncdpError(Exception):
    """Base class of every error syncdp raises on purpose.

    Every syncdp error pickles with its message and its attributes (``method``, ``timeout``,
    ``close_code``, ...), so a ``multiprocessing`` pool or a Celery result backend hands the
    caller the same error the worker raised.
    """

    def __reduce__(self) -> Tuple[Any, ...]:
        # The default (``type(self)(*self.args)``) calls ``__init__`` again with the final
        # message as the only argument, which fails for every subclass whose ``__init__``
        # takes its fields (``CommandTimeoutError(method, timeout)``): unpickling then raises
        # TypeError, which kills a multiprocessing pool's result thread. Rebuild without
        # ``__init__`` instead (_rebuild_error): the message and every attribute come back as
        # they were, whatever a subclass's ``__init__`` takes.
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(cls: Type[SyncdpError], args: Tuple[Any, ...], state: Dict[str, Any]) -> SyncdpError:
    """Unpickle a :class:`SyncdpError` (any subclass) without calling its ``__init__``."""
    error: SyncdpError = cls.__new__(cls)
    # ``args`` set here, not given to ``__new__``: OSError subclasses (the timeouts and the
    # connection errors) take their ``args`` in ``__init__`` only.
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidCommand(SyncdpError, ValueError):
    """A command was malformed before anything was sent (not a dict, no method, ...)."""


class CommandError(SyncdpError):
    """The browser answered a command with a CDP error response.

    Attributes:
        method: the CDP method that failed, e.g. ``"Page.navigate"``.
        code: the CDP error code (``-32602`` for invalid parameters, ...).
        message: the CDP error message.
        data: the optional ``data`` field of the error, kept as sent.
    """

    def __init__(
        self,
        method: str,
        code: Optional[int],
        message: str,
        data: Any = None,
    ) -> None:
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        text = "%s failed: %s" % (method, message)
        if code is not None:
            text += " (%s)" % code
        if data is not None:
            text += ": %s" % (data,)
        super().__init__(text)


class TargetClosedError(CommandError):
    """The target (tab, worker, session) a command was meant for has gone away."""

    def __init__(self, method: str, message: str = "target closed") -> None:
        super().__init__(method, None, message)


class TargetCrashedError(TargetClosedError):
    """The target's renderer process crashed while the command was pending."""

    def __init__(self, method: str, message: str = "target crashed") -> None:
        super().__init__(method, message)


class CommandTimeoutError(SyncdpError, TimeoutError):
    """No answer to a command arrived within its timeout.

    Attributes:
        method: the CDP method that timed out.
        timeout: the limit in seconds.
    """

    def __init__(self, method: str, timeout: float) -> None:
        self.method = method
        self.timeout = timeout
        super().__init__(
            "%s got no answer within %ss; pass a larger timeout= (timeout=None waits without "
            "limit)" % (method, format_seconds(timeout))
        )


class EventTimeoutError(SyncdpError, TimeoutError):
    """The awaited event did not arrive within its timeout.

    Attributes:
        event: the awaited event name.
        timeout: the limit in seconds.
    """

    def __init__(self, event: str, timeout: float) -> None:
        self.event = event
        self.timeout = timeout
        super().__init__(
            "event %s did not arrive within %ss; pass a larger timeout= (timeout=None waits "
            "without limit)" % (event, format_seconds(timeout))
        )


class SyncdpConnectionError(SyncdpError, ConnectionError):
    """Base class of errors about the websocket connection itself."""


class ConnectFailedError(SyncdpConnectionError):
    """The browser endpoint could not be reached or refused the connection.

    Attributes:
        host: the host that was tried.
        port: the port that was tried (``None`` when unknown).
        reason: a short description of why it failed.
    """

    def __init__(self, host: str, port: Optional[int], reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        where = host if port is None else "%s:%s" % (host, port)
        super().__init__("cannot connect to the browser at %s: %s" % (where, reason))


class ConnectionClosedError(SyncdpConnectionError):
    """The websocket closed (or was closed) while a command or wait was pending.

    Attributes:
        close_code: the websocket close code the peer sent, if any.
        close_reason: the close reason the peer sent, if any.
        method: the CDP method that was pending, if any.
    """

    def __init__(
        self,
        message: str = "connection to the browser was lost",
        close_code: Optional[int] = None,
        close_reason: Optional[str] = None,
        method: Optional[str] = None,
    ) -> None:
        self.close_code = close_code
        self.close_reason = close_reason
        self.method = method
        text = message
        if method:
            text = "%s: %s" % (method, text)
        if close_code is not None:
            text += " (close code %s%s)" % (
                close_code,
                ", reason %r" % close_reason if close_reason else "",
            )
        super().__init__(text)


class PipeClosedError(ConnectionClosedError):
    """The browser's ``--remote-debugging-pipe`` has ended: a pipe cannot be re-opened.

    Raised instead of reconnecting (start a new ``Chrome(pipe=True)``).
    """


class DiscoveryError(SyncdpConnectionError):
    """An HTTP discovery endpoint (``/json/version``, ``/json/list``, ...) failed."""


class BrowserNotFoundError(SyncdpError, FileNotFoundError):
    """No Chromium/Chrome executable was found.

    Attributes:
        tried: the paths and names that were looked at.
        variable: the environment variable (``SYNCDP_BROWSER`` or ``CHROME_PATH``) whose value
            is not an executable, when that is the problem; else ``None``.
    """

    def __init__(self, tried: Sequence[str], variable: Optional[str] = None) -> None:
        self.tried = list(tried)
        self.variable = variable
        if variable is not None:
            message = (
                "%s=%r is not an executable file; point it at the browser (e.g. "
                "/usr/bin/chromium) or unset it" % (variable, self.tried[-1] if self.tried else "")
            )
        else:
            message = (
                "no Chromium or Chrome executable found; looked at: %s. Install Chromium "
                "(e.g. 'apt-get install chromium') or set SYNCDP_BROWSER / pass "
                "binary_location=..." % ", ".join(self.tried)
            )
        super().__init__(message)


class BrowserLaunchError(SyncdpError):
    """The browser process failed to start or to expose its DevTools endpoint.

    Attributes:
        returncode: the exit code if the process ended, else ``None``.
        stderr_tail: the last lines the browser wrote to stderr.
    """

    def __init__(
        self, message: str, returncode: Optional[int] = None, stderr_tail: str = ""
    ) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        text = message
        if returncode is not None:
            text += " (exit code %s)" % returncode
        if stderr_tail:
            text += "; browser stderr:\n%s" % stderr_tail
        super().__init__(text)


class NavigationError(SyncdpError):
    """A navigation failed (DNS, connection refused, invalid URL, ...).

    Attributes:
        url: the URL that was requested.
        error_text: Chromium's ``errorText`` (e.g. ``net::ERR_CONNECTION_REFUSED``).
    """

    def __init__(self, url: str, error_text: str) -> None:
        self.url = url
        self.error_text = error_text
        super().__init__("navigation to %s failed: %s" % (url, error_text))


class JavaScriptError(SyncdpError):
    """A script raised an exception in the page.

    Attributes:
        message: the exception's description.
        stack: the JavaScript stack trace when available.
    """

    def __init__(self, message: str, stack: str = "") -> None:
        self.message = message
        self.stack = stack
        super().__init__(stack or message)


class JavaScriptValueError(SyncdpError, ValueError):
    """A script's result holds a value with no Python counterpart (a Promise, an Error
    object, a typed array, a proxy, a weak collection, a platform object such as
    ``localStorage``...), or a Map whose keys Python cannot hash. Nothing is dropped or
    guessed: convert it in the script (``Array.from(bytes)``, ``String(err)``, ``[...map]``).

    Attributes:
        kind: the value's kind as Chromium names it (``"promise"``, ``"typedarray"``...).
        path: where it is in the result, e.g. ``result['items'][2]``.
    """

    def __init__(self, kind: str, path: str, hint: str = "") -> None:
        self.kind = kind
        self.path = path
        super().__init__(
            "%s is a JavaScript %s, which has no Python value%s"
            % (path, kind, ": " + hint if hint else "; convert it in the script")
        )


class ExecutionContextDestroyedError(CommandError):
    """The page's JavaScript context went away while a command ran in it: a navigation
    committed (or a reload, or the frame was removed). Whatever the command started may or
    may not have run; it is not run again. Retry on the new page if that is safe.

    A :class:`CommandError` (``method``, ``code``, ``message``, ``data`` kept).
    """

    def __init__(
        self, method: str, code: Optional[int], message: str, data: Any = None
    ) -> None:
        super().__init__(method, code, message, data)
        # CommandError's text, with what happened in words.
        self.args = (
            "%s: the page navigated while it ran (its JavaScript context is gone)" % self.args[0],
        )


class ElementNotFoundError(SyncdpError, LookupError):
    """No element matched a selector within the timeout.

    Attributes:
        selector: the CSS or XPath selector.
        timeout: how long it was waited for.
    """

    def __init__(self, selector: str, timeout: float = 0.0, message: Optional[str] = None) -> None:
        self.selector = selector
        self.timeout = timeout
        if message is None:
            extra = " within %ss" % format_seconds(timeout) if timeout else ""
            message = "no element matches %r%s" % (selector, extra)
        super().__init__(message)


class StaleElementError(ElementNotFoundError):
    """The element is gone: its page navigated or reloaded, or it left the document.

    An :class:`ElementNotFoundError` (a ``LookupError``): query it again.

    Attributes:
        selector: the element's description (e.g. ``button#go``).
        reason: Chromium's words, e.g. ``Cannot find context with specified id``.
    """

    def __init__(self, element: str, reason: str) -> None:
        self.reason = reason
        super().__init__(
            element,
            message="the element %s is stale (%s): the page navigated or reloaded, or the node "
            "left the document; query it again" % (element, reason),
        )


class DialogOpenError(SyncdpError):
    """A JavaScript dialog is open and blocks the page; handle it first.

    Attributes:
        dialog_message: the open dialog's text.
        dialog_type: ``alert``, ``confirm``, ``prompt`` or ``beforeunload``.
    """

    def __init__(self, dialog_type: str, dialog_message: str, action: str = "") -> None:
        self.dialog_type = dialog_type
        self.dialog_message = dialog_message
        what = "%s is blocked: " % action if action else ""
        super().__init__(
            "%sa JavaScript %s dialog is open (%r); call handle_dialog() first"
            % (what, dialog_type, dialog_message)
        )


class ReplayMismatchError(SyncdpError):
    """A replayed session did something its recording does not hold.

    Raised by a replay transport (:mod:`syncdp.transports.replay`) for a command the
    recording has no match for (at the position it was sent, or past the recording's end),
    and when the replay is closed with recorded commands never sent.

    Attributes:
        method: the command sent (or, for commands left over, the first one never sent).
        position: its 1-based position among the commands of the replay.
        nearest: ``"#N Method"``, the closest recorded command, or ``None``.
        diff: how the parameters differ from the nearest one (lines), or ``""``.
    """

    def __init__(
        self,
        method: str,
        position: int,
        message: str,
        nearest: Optional[str] = None,
        diff: str = "",
    ) -> None:
        self.method = method
        self.position = position
        self.nearest = nearest
        self.diff = diff
        super().__init__(message)


class IncompatibleRuntimeError(SyncdpError, RuntimeError):
    """The process changed under syncdp in a way its objects cannot follow.

    Raised when ``threading`` was monkey-patched (gevent's ``monkey.patch_all()``) after a
    connection was made: its locks and threads are real OS ones that greenlets would block
    on for ever. The message names the fix (patch before importing syncdp).
    """
