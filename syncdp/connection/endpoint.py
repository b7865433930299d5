"""The command and event API shared by a connection and its sessions.

:class:`~syncdp.connection.ConnectionHandler` (one websocket) and
:class:`~syncdp.connection.Session` (one flattened target session on that websocket) offer the
same surface: ``execute_command``, ``send``, ``submit``, callbacks, ``expect_event`` /
``wait_for_event``, ``network_logs``, ``dialog``. It lives here once; each subclass only says
how to reach a live socket (:meth:`_Endpoint._ensure_link`) and which ``sessionId`` its
messages carry.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
import time
import weakref
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type, Union, cast

from syncdp.connection.commands import CommandFuture, CommandManager
from syncdp.connection.events import WAIT_SLICE, EventsHandler, EventWaiter, Predicate
from syncdp.exceptions import CommandError, CommandTimeoutError, InvalidCommand, SyncdpError

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.connection.handler import ConnectionHandler, _Link
    from syncdp.connection.session import Session
    from syncdp.protocol import CDP, Protocol

__all__ = ["EventExpectation", "Number"]

logger = logging.getLogger(__name__)

Number = Union[int, float]
ReaderHook = Callable[[Dict[str, Any]], None]


# Top-level keys a command may have; the browser answers any other with an error that
# carries no id, which could never reach the caller.
_COMMAND_KEYS = frozenset(("method", "params", "id"))

# Stateful browser switches replayed after a reconnect like ``X.enable``: method -> the
# boolean parameter that turns them on.
_REPLAYED_SWITCHES = {"Target.setDiscoverTargets": "discover"}


def _check_keys(method: str, command: Dict[str, Any]) -> None:
    extra = sorted(str(key) for key in command if key not in _COMMAND_KEYS)
    if not extra:
        return
    if extra == ["sessionId"]:
        raise InvalidCommand(
            "%s: 'sessionId' is set by syncdp; send through the session instead "
            "(conn.attach(target_id).execute_command(...))" % method
        )
    raise InvalidCommand(
        "%s: unknown top-level key(s) %s; a command has only 'method', 'params' and 'id'"
        " (parameters go inside 'params')" % (method, ", ".join(map(repr, extra)))
    )


def _tracked(method: str) -> bool:
    """Whether ``method`` switches browser state that a reconnect must restore."""
    return method.endswith((".enable", ".disable")) or method in _REPLAYED_SWITCHES


class _WeakHook:
    """A reader hook that is a bound method, held weakly (see ``add_reader_hook``)."""

    __slots__ = ("_method", "_name")

    def __init__(self, method: Callable[[Dict[str, Any]], None]) -> None:
        self._method = weakref.WeakMethod(method)
        self._name = getattr(method, "__qualname__", "hook")

    def __call__(self, message: Dict[str, Any]) -> None:
        method = self._method()
        if method is not None:
            method(message)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _WeakHook):
            return self._method == other._method
        return self._method() == other

    def __hash__(self) -> int:
        return hash(self._method)

    def __repr__(self) -> str:
        return "<weak hook %s>" % self._name


def _any_method(method: str) -> bool:
    return True


def _check_timeout(
    timeout: Any, what: str = "timeout", *, allow_none: bool = True, allow_zero: bool = False
) -> Optional[float]:
    """``timeout`` as a float, or ``None`` (no limit) when allowed.

    Raises:
        InvalidCommand: not a finite number (bools and strings included), negative, zero
            where zero is not allowed, or ``None`` where a limit is required.
    """
    if timeout is None and allow_none:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout < 0
        or (timeout == 0 and not allow_zero)
    ):
        expected = "a non-negative" if allow_zero else "a positive"
        raise InvalidCommand(
            "%s must be %s number of seconds%s, got %r"
            % (what, expected, " or None" if allow_none else "", timeout)
        )
    return float(timeout)


def _command_error(method: str, error: Any) -> CommandError:
    if isinstance(error, dict):
        code = error.get("code")
        return CommandError(
            method,
            code if isinstance(code, int) else None,
            str(error.get("message", "")),
            error.get("data"),
        )
    return CommandError(method, None, str(error))


class EventExpectation:
    """The result of :meth:`ConnectionHandler.expect_event`: a context manager.

    The waiter is registered on ``__enter__`` (before the trigger runs) and the wait happens
    on ``__exit__``, so an event that fires while the trigger is still running is not missed.
    ``value`` then holds the first matching event message.
    """

    def __init__(
        self, events_handler: EventsHandler, waiter: EventWaiter, timeout: Optional[float]
    ) -> None:
        self._events_handler = events_handler
        self._waiter = waiter
        self._timeout = timeout
        self._done = False

    @property
    def value(self) -> Dict[str, Any]:
        """The matched event message (``{"method": ..., "params": ...}``).

        Raises:
            RuntimeError: read before the ``with`` block ended.
        """
        if self._waiter.value is None:
            raise RuntimeError("expect_event value is available once the with block has ended")
        return self._waiter.value

    @property
    def timeout(self) -> Optional[float]:
        """Seconds the wait on ``__exit__`` may last (settable inside the block)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        self._timeout = _check_timeout(value)

    def fail(self, error: BaseException) -> None:
        """Make the thread in :meth:`wait` raise ``error`` now (any thread, even the reader):
        for library code that learns the event can no longer come, e.g. a dialog opened."""
        self._waiter.candidates.put(error)

    def cancel(self) -> None:
        """Stop waiting: ``__exit__`` then returns at once and ``value`` stays unset."""
        self._done = True
        self._events_handler.remove_waiter(self._waiter)

    def wait(self) -> Dict[str, Any]:
        """Wait for the event now (also done by ``__exit__``)."""
        try:
            return self._waiter.wait(self._timeout)
        finally:
            self._done = True
            self._events_handler.remove_waiter(self._waiter)

    def __enter__(self) -> "EventExpectation":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._events_handler.remove_waiter(self._waiter)
            return
        if not self._done:
            self.wait()


class _Endpoint:
    """The command and event API over one socket, optionally scoped to one session."""

    _root: "ConnectionHandler"
    _session_id: Optional[str]
    _command_manager: CommandManager

    def __init__(self, network_logs_limit: Optional[int], replay_enables: bool) -> None:
        self._events_handler = EventsHandler(network_logs_limit)
        self._replay_enables = replay_enables
        self._enabled: Dict[str, Dict[str, Any]] = {}
        # event name -> hooks run on the reader thread (library code only; see add_reader_hook)
        self._reader_hooks: Dict[str, Tuple[ReaderHook, ...]] = {}
        self._hooks_lock = threading.Lock()
        # Target.setAutoAttach parameters while auto-attach is on for this endpoint.
        self._auto_attach: Optional[Dict[str, Any]] = None
        # The browser's protocol (syncdp.protocol), loaded on first use of .cdp only; a Tab or
        # Browser sets the provider so that one load serves all their connections.
        self._protocol: Optional["Protocol"] = None
        self._provider_ref: Optional[Callable[[], Optional[Callable[[], "Protocol"]]]] = None
        self._cdp: Optional["CDP"] = None

    def _wait_ended_by_peer(self, timeout: float) -> bool:
        """Wait until the browser ends this endpoint (its target closed); True if it did."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        import html

        return "<code>%s</code>" % html.escape(repr(self))

    def _ensure_link(self, method: Optional[str] = None) -> "_Link":
        """Return a live socket for this endpoint, connecting (or re-attaching) first."""
        raise NotImplementedError

    def connect(self) -> None:
        """Open the connection (or attach the session) now instead of on first use."""
        self._ensure_link()

    @property
    def connected(self) -> bool:
        """Whether the endpoint is usable on a live socket right now."""
        raise NotImplementedError

    @property
    def connection_count(self) -> int:
        """How many times the endpoint was (re)connected or (re)attached."""
        raise NotImplementedError

    def ping(self, timeout: Number = 5) -> bool:
        """Whether the browser answers right now. Never raises."""
        raise NotImplementedError

    # -- typed protocol access ---------------------------------------------------------------

    @property
    def cdp(self) -> "TypedCDP":
        """Typed, validated access to every domain of the browser's own protocol.

        ``conn.cdp.Page.navigate(url=...)`` returns the result like :meth:`send` (and raises
        ``CommandError`` like it); unknown names, missing or mistyped parameters raise
        ``InvalidCommand`` before anything is sent. ``dir()``/``help()`` list and document
        every domain, command and event. The protocol is loaded on first use, once per
        browser version (see :mod:`syncdp.protocol`); ``_timeout=`` is syncdp's own timeout.
        """
        cdp = self._cdp
        if cdp is None:
            from syncdp.protocol import CDP

            cdp = CDP(self._cdp_send, self._get_protocol, default_timeout=10)
            self._cdp = cdp  # a benign race: two equivalent objects
        return cast("TypedCDP", cdp)

    def _cdp_send(
        self, method: str, params: Optional[Dict[str, Any]], timeout: Optional[float]
    ) -> Dict[str, Any]:
        return self.send(method, params, timeout=timeout)

    @property
    def _protocol_provider(self) -> Optional[Callable[[], "Protocol"]]:
        """Where the protocol comes from (a Browser shares one per browser); held weakly."""
        ref = self._provider_ref
        return None if ref is None else ref()

    @_protocol_provider.setter
    def _protocol_provider(self, provider: Optional[Callable[[], "Protocol"]]) -> None:
        if provider is None:
            self._provider_ref = None
        elif inspect.ismethod(provider):
            self._provider_ref = weakref.WeakMethod(provider)
        else:
            self._provider_ref = lambda: provider

    def _get_protocol(self) -> "Protocol":
        protocol = self._protocol
        if protocol is None:
            provider = self._protocol_provider
            if provider is not None:
                protocol = provider()
            elif self._root is not self:
                protocol = self._root._get_protocol()
            else:
                protocol = self._root._load_protocol()
            self._protocol = protocol
        return protocol

    def _check_event_name(self, event_name: str) -> None:
        # Only once the protocol is loaded: registering a callback never costs a request.
        protocol = self._protocol
        if protocol is not None:
            from syncdp.protocol import check_event_name

            check_event_name(protocol, event_name)

    def set_auto_attach(self, enabled: bool = True, *, wait_for_debugger: bool = True) -> None:
        """Follow this target's children (out-of-process iframes, workers) as sessions.

        Each new child becomes a :class:`~syncdp.connection.Session`, is announced to the
        callbacks registered here for :data:`~syncdp.connection.ATTACHED_EVENT` (they run
        before the child resumes when ``wait_for_debugger`` is on, so its first events are
        not missed) and is listed in :attr:`child_sessions`. Children of children follow too.
        """
        self._root._set_auto_attach(self, enabled, wait_for_debugger)

    @property
    def child_sessions(self) -> "List[Session]":
        """Live sessions auto-attached below this endpoint (iframes, workers)."""
        return self._root._children_of(self)

    def _replay_enabled(self, link: "_Link") -> None:
        """Send again the ``X.enable`` commands (and switches) that were active (new socket or session)."""
        if not self._replay_enables:
            return
        timeout = self._root._connect_timeout
        for method, params in list(self._enabled.items()):
            command: Dict[str, Any] = {"method": method}
            if params:
                command["params"] = params
            try:
                future, command_id = self._root._send_on(link, command, self._session_id)
                response = self._wait(future, command_id, method, timeout)
                if "error" in response:
                    logger.warning("re-sending %s failed: %s", method, response["error"])
            except SyncdpError as exc:
                logger.warning("re-sending %s failed: %s", method, exc)

    @property
    def network_logs(self) -> List[Dict[str, Any]]:
        """The ``Network.requestWillBeSent`` events seen (enable the Network domain first)."""
        return self._events_handler.network_logs

    def clear_network_logs(self) -> None:
        """Forget the recorded network events."""
        self._events_handler.clear_network_logs()

    @property
    def dialog(self) -> Dict[str, Any]:
        """The open JavaScript dialog's ``Page.javascriptDialogOpening`` event, or ``{}``."""
        return self._events_handler.dialog

    @property
    def pending_commands(self) -> int:
        """How many commands are awaiting their answer."""
        return self._command_manager.pending_count_for(self._session_id)

    def _run_reader_hooks(
        self, found: Optional[Tuple[Callable[[Dict[str, Any]], None], ...]], message: Dict[str, Any]
    ) -> None:
        for hook in found or ():
            try:
                hook(message)
            except Exception:
                logger.exception("reader hook %r failed", hook)

    def add_reader_hook(self, event_name: str, hook: Callable[[Dict[str, Any]], None]) -> None:
        """Run ``hook(event)`` on the reader thread, before callbacks and waiters see it.

        For library code that must react before anything else can (failing commands that a
        dialog or a crash will never answer). A hook must be quick and must never send a
        command and wait for it: the reader is the thread that would deliver the answer.
        """
        if inspect.ismethod(hook):
            # Weakly: the reader thread keeps this endpoint alive, and must not keep alive
            # the Tab or Browser that owns the hook (their GC finalizer ends the browser).
            hook = _WeakHook(hook)
        with self._hooks_lock:
            self._reader_hooks[event_name] = self._reader_hooks.get(event_name, ()) + (hook,)

    def remove_reader_hook(self, event_name: str, hook: Callable[[Dict[str, Any]], None]) -> None:
        """Remove a hook added by :meth:`add_reader_hook` (no error if absent)."""
        with self._hooks_lock:
            left = tuple(h for h in self._reader_hooks.get(event_name, ()) if h != hook)
            if left:
                self._reader_hooks[event_name] = left
            else:
                self._reader_hooks.pop(event_name, None)

    def fail_pending(
        self,
        make_error: Callable[[str], BaseException],
        predicate: Optional[Callable[[str], bool]] = None,
    ) -> int:
        """Fail pending commands (those whose method satisfies ``predicate``).

        Each caller raises its own ``make_error(method)`` at once; late answers are dropped.
        Returns how many commands were failed.
        """
        return self._command_manager.fail_matching(
            predicate or _any_method, make_error, self._session_id
        )

    def fail_waiters(self, make_error: Callable[[str], BaseException]) -> None:
        """Make every thread waiting for an event here raise ``make_error(event_name)`` now."""
        self._events_handler.fail_waiters(make_error)

    # -- commands ----------------------------------------------------------------------------

    def _wait(
        self,
        future: CommandFuture,
        command_id: int,
        method: str,
        timeout: Optional[float],
    ) -> Dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        completed = future.completed  # released once, when the future completes
        answered = False
        try:
            while True:
                if deadline is None:
                    slice_: float = WAIT_SLICE
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeoutError(method, timeout or 0.0)
                    slice_ = remaining if remaining < WAIT_SLICE else WAIT_SLICE
                # Slices of at most 0.1 s: Ctrl-C lands between them on every platform.
                if completed.acquire(True, slice_):
                    answered = True
                    return future.outcome()
        finally:
            if not answered:  # timeout or Ctrl-C: forget the id (a late answer is dropped)
                self._command_manager.remove_pending_command(command_id)

    @staticmethod
    def _validate(command: Any) -> str:
        if not isinstance(command, dict):
            raise InvalidCommand("Command must be a dictionary, got %s" % type(command).__name__)
        method = command.get("method")
        if not isinstance(method, str) or not method:
            raise InvalidCommand(
                "Command must have a non-empty 'method' string, got %r" % (command,)
            )
        params = command.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidCommand(
                "%s: 'params' must be a dictionary, got %s" % (method, type(params).__name__)
            )
        if len(command) > 2 or not command.keys() <= _COMMAND_KEYS:
            _check_keys(method, command)
        return method

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Send a command and block for its whole response (the seed's API).

        The handler assigns the ``id`` (whatever the dict holds), so concurrent callers never
        receive each other's answers; the caller's dict is not modified.

        Args:
            command: ``{"method": ..., "params": {...}}`` (``id`` optional, replaced).
            timeout: seconds to wait for the answer; ``None`` waits forever.

        Returns:
            The full response: ``{"id": ..., "result": {...}}`` or ``{"id": ..., "error": {...}}``.

        Raises:
            InvalidCommand: not a dict, no method, params not a dict or not serializable.
            CommandTimeoutError: no answer in time (also a ``TimeoutError``).
            ConnectionClosedError: the connection was lost while waiting (also a
                ``ConnectionError``); the next command reconnects.
            ConnectFailedError: the browser cannot be reached.
        """
        method = self._validate(command)
        limit = _check_timeout(timeout)
        future, command_id = self._root._send_on(
            self._ensure_link(method), command, self._session_id
        )
        response = self._wait(future, command_id, method, limit)
        if self._replay_enables and _tracked(method):
            self._track_enable(method, command.get("params"), response)
        return response

    def _track_enable(self, method: str, params: Any, response: Dict[str, Any]) -> None:
        if "error" in response:
            return
        switch = _REPLAYED_SWITCHES.get(method)
        if switch is not None:
            if isinstance(params, dict) and params.get(switch):
                self._enabled[method] = dict(params)
            else:
                self._enabled.pop(method, None)
            return
        domain, _, verb = method.rpartition(".")
        if verb == "enable":
            self._enabled[method] = dict(params or {})
        else:
            self._enabled.pop(domain + ".enable", None)

    def send(
        self,
        method: str,
        params: Optional[Dict[str, Any]] = None,
        *,
        timeout: Optional[Number] = 10,
    ) -> Dict[str, Any]:
        """Send ``method`` with ``params`` and return the ``result`` only.

        Raises:
            CommandError: the browser answered with an error (``code``, ``message``,
                ``data`` and ``method`` are kept).
            InvalidCommand, CommandTimeoutError, ConnectionClosedError, ConnectFailedError:
                as :meth:`execute_command`.
        """
        command: Dict[str, Any] = {"method": method}
        if params is not None:
            command["params"] = params
        response = self.execute_command(command, timeout)
        error = response.get("error")
        if error is not None:
            raise _command_error(method, error)
        result = response.get("result")
        return result if isinstance(result, dict) else {}

    def _send_pipelined(
        self, commands: List[Tuple[str, Optional[Dict[str, Any]]]], timeout: Optional[Number] = 10
    ) -> List[Dict[str, Any]]:
        """Send several commands back to back, then wait for each: one round trip, not N.

        Returns their results in order; the first CDP error raises ``CommandError``.
        """
        limit = _check_timeout(timeout)
        link = self._ensure_link(commands[0][0] if commands else None)
        sent = []
        for method, params in commands:
            command: Dict[str, Any] = {"method": method}
            if params is not None:
                command["params"] = params
            future, command_id = self._root._send_on(link, command, self._session_id)
            sent.append((future, command_id, method, params))
        results = []
        for future, command_id, method, params in sent:
            response = self._wait(future, command_id, method, limit)
            if self._replay_enables and _tracked(method):
                self._track_enable(method, params, response)
            error = response.get("error")
            if error is not None:
                raise _command_error(method, error)
            result = response.get("result")
            results.append(result if isinstance(result, dict) else {})
        return results

    def submit(self, command: Dict[str, Any]) -> "Future[Dict[str, Any]]":
        """Send a command without waiting: pipelining, the sync answer to ``asyncio.gather``.

        Returns:
            A ``concurrent.futures.Future`` completed with the full response, or failed with
            ``ConnectionClosedError`` if the connection is lost first. Cancelling it forgets
            the command (a late answer is dropped).
        """
        method = self._validate(command)
        future, command_id = self._root._send_on(
            self._ensure_link(method), command, self._session_id
        )
        manager = self._command_manager
        # Not add_done_callback: that would build the Future's Condition for every command.
        future.on_cancel = lambda: manager.remove_pending_command(command_id)
        return future

    # -- events ------------------------------------------------------------------------------

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """Call ``callback(event_message)`` for every ``event_name`` event.

        Callbacks run on the dispatcher thread, one at a time, in arrival order, and for one
        event in registration order. Coroutine functions are run to completion there too.
        A callback may send commands, wait for events, and register or remove callbacks.

        Args:
            event_name: e.g. ``"Page.loadEventFired"``; :data:`DISCONNECTED_EVENT` for loss.
            callback: a function or coroutine function taking the event message.
            temporary: remove it after its first call.

        Returns:
            The callback id, for :meth:`remove_callback`.
        """
        self._check_event_name(event_name)
        return self._events_handler.register_callback(event_name, callback, temporary)

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback; returns False when no callback had that id."""
        return self._events_handler.remove_callback(callback_id)

    def clear_callbacks(self) -> None:
        """Remove every callback."""
        self._events_handler.clear_callbacks()

    def expect_event(
        self, event_name: str, predicate: Optional[Predicate] = None, timeout: Optional[Number] = 10
    ) -> EventExpectation:
        """Wait for an event caused by code run inside a ``with`` block, race-free::

            with conn.expect_event("Page.loadEventFired") as ev:
                conn.send("Page.navigate", {"url": url})
            loaded = ev.value["params"]

        Raises (on leaving the block):
            EventTimeoutError: nothing matched in time (also a ``TimeoutError``).
            ConnectionClosedError: the connection was lost meanwhile.
        """
        limit = _check_timeout(timeout)
        self._check_event_name(event_name)
        waiter = self._events_handler.add_waiter(event_name, predicate)
        return EventExpectation(self._events_handler, waiter, limit)

    def wait_for_event(
        self, event_name: str, predicate: Optional[Predicate] = None, timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Block for the next ``event_name`` event (matching ``predicate``, if given).

        Opens the connection if needed (an event can only come over a live socket).
        """
        self._ensure_link()
        return self.expect_event(event_name, predicate, timeout).wait()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the endpoint (see the subclass)."""
        raise NotImplementedError
