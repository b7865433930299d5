"""The command and event API shared by a connection and its sessions.

:class:`~syncdp.connection.ConnectionHandler` (one socket) and
:class:`~syncdp.connection.Session` (one flattened target session on that socket) offer the
same surface: ``execute_command``, ``send``, ``submit``, callbacks, ``expect_event`` /
``wait_for_event``, ``wait_closed``, ``network_logs``, ``dialog``. It lives here once; each
subclass only says how to reach a live socket (:meth:`_Endpoint._ensure_link`). The wire work
is the shared :class:`~syncdp.connection.core.ConnectionCore`; what the reader delivers to
this endpoint is its :class:`~syncdp.connection.router.Route`.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type, Union, cast

from syncdp.connection.core import ConnectionCore, Link
from syncdp.connection.events import EventExpectation, Predicate
from syncdp.connection.hooks import EndpointHooks
from syncdp.connection.reconnect import EnableTracker
from syncdp.connection.router import Route
from syncdp.connection.targets import Targets
from syncdp.connection.validation import check_event_name, check_timeout, validate_command

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.cdp_types import CDP as TypedCDP
    from syncdp.protocol import CDP, Protocol

__all__ = ["EventExpectation", "Number"]

logger = logging.getLogger(__name__)

Number = Union[int, float]
ProtocolSource = Callable[[], "Protocol"]



class _Endpoint:
    """The command and event API over one connection, optionally scoped to one session."""

    def __init__(
        self, core: ConnectionCore, targets: Targets, route: Route, protocol_source: ProtocolSource
    ) -> None:
        self._core = core
        self._targets = targets
        self._route = route
        self._replay_enables = core.replay_enables
        self._enables: EnableTracker = route.enables
        # The browser's protocol (syncdp.protocol), loaded on first use of .cdp only; a Tab or
        # Browser sets the provider so that one load serves all their connections.
        self._protocol: Optional["Protocol"] = None
        self._protocol_source = protocol_source
        self._provider_ref: Optional[Callable[[], Optional[ProtocolSource]]] = None
        self._cdp: Optional["CDP"] = None

    def _repr_html_(self) -> str:
        import html

        return "<code>%s</code>" % html.escape(repr(self))

    def _ensure_link(self, method: Optional[str] = None) -> Link:
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

    def _protocol_provider(self) -> Optional[ProtocolSource]:
        """Where the protocol comes from (a Browser shares one per browser); held weakly."""
        ref = self._provider_ref
        return None if ref is None else ref()

    def _set_protocol_provider(self, provider: Optional[ProtocolSource]) -> None:
        if provider is None:
            self._provider_ref = None
        elif inspect.ismethod(provider):
            self._provider_ref = weakref.WeakMethod(provider)
        else:
            self._provider_ref = lambda: provider

    def _get_protocol(self) -> "Protocol":
        protocol = self._protocol
        if protocol is None:
            provider = self._protocol_provider()
            protocol = provider() if provider is not None else self._protocol_source()
            self._protocol = protocol
        return protocol

    def _check_event_name(self, event_name: Any) -> str:
        check_event_name(event_name)
        # The protocol's own check only once it is loaded: registering costs no request.
        protocol = self._protocol
        if protocol is not None and event_name != "*":
            from syncdp.protocol import check_event_name as check_known

            check_known(protocol, event_name)
        return str(event_name)

    # -- auto-attach -------------------------------------------------------------------------

    def set_auto_attach(self, enabled: bool = True, *, wait_for_debugger: bool = True) -> None:
        """Follow this target's children (out-of-process iframes, workers) as sessions.

        Each new child becomes a :class:`~syncdp.connection.Session`, is announced to the
        callbacks registered here for :data:`~syncdp.connection.ATTACHED_EVENT` (they run
        before the child resumes when ``wait_for_debugger`` is on, so its first events are
        not missed) and is listed in :attr:`child_sessions`. Children of children follow too.
        """
        self._ensure_link("Target.setAutoAttach")
        self._targets.set_auto_attach(self._route, enabled, wait_for_debugger)

    @property
    def child_sessions(self) -> List[Any]:
        """Live sessions auto-attached below this endpoint (iframes, workers).

        (Typed precisely by ConnectionHandler and Session: this module sits below session.py.)
        """
        return [route.endpoint for route in self._targets.children_of(self._route)]

    # -- reader-side state -------------------------------------------------------------------

    @property
    def network_logs(self) -> List[Dict[str, Any]]:
        """The ``Network.requestWillBeSent`` events seen (enable the Network domain first)."""
        return self._route.network_log.entries

    def clear_network_logs(self) -> None:
        """Forget the recorded network events."""
        self._route.network_log.clear()

    @property
    def dialog(self) -> Dict[str, Any]:
        """The open JavaScript dialog's ``Page.javascriptDialogOpening`` event, or ``{}``."""
        return self._route.dialog.current

    @property
    def pending_commands(self) -> int:
        """How many commands are awaiting their answer."""
        return self._core.commands.pending_count_for(self._route.session_id)

    # -- for the library layers above (Tab, Browser): not user API -----------------------------

    @property
    def hooks(self) -> EndpointHooks:
        """Library hooks for the layers built on this endpoint (see :mod:`syncdp.connection.hooks`)."""
        return EndpointHooks(self._core, self._route, self._send_pipelined, self._set_protocol_provider)

    # -- commands ----------------------------------------------------------------------------

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Send a command and block for its whole response (pydoll's API).

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
        method = validate_command(command)
        limit = check_timeout(timeout)
        core = self._core
        future, command_id = core.send(self._ensure_link(method), command, self._route.session_id)
        response = core.wait(future, command_id, method, limit)
        if self._replay_enables and EnableTracker.tracked(method):
            self._enables.track(method, command.get("params"), response)
        return response

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
        return self._core.result(method, self.execute_command(command, timeout))

    def _send_pipelined(
        self, commands: List[Tuple[str, Optional[Dict[str, Any]]]], timeout: Optional[Number] = 10
    ) -> List[Dict[str, Any]]:
        """Send several commands back to back, then wait for each: one round trip, not N.

        Returns their results in order; the first CDP error raises ``CommandError``.
        """
        limit = check_timeout(timeout)
        core = self._core
        link = self._ensure_link(commands[0][0] if commands else None)
        sent = []
        for method, params in commands:
            command: Dict[str, Any] = {"method": method}
            if params is not None:
                command["params"] = params
            future, command_id = core.send(link, command, self._route.session_id)
            sent.append((future, command_id, method, params))
        results = []
        for future, command_id, method, params in sent:
            response = core.wait(future, command_id, method, limit)
            if self._replay_enables and EnableTracker.tracked(method):
                self._enables.track(method, params, response)
            results.append(core.result(method, response))
        return results

    def submit(self, command: Dict[str, Any]) -> "Future[Dict[str, Any]]":
        """Send a command without waiting: pipelining, the sync answer to ``asyncio.gather``.

        Returns:
            A ``concurrent.futures.Future`` completed with the full response, or failed with
            ``ConnectionClosedError`` if the connection is lost first. Cancelling it forgets
            the command (a late answer is dropped).
        """
        method = validate_command(command)
        commands = self._core.commands
        future, command_id = self._core.send(
            self._ensure_link(method), command, self._route.session_id
        )
        # Not add_done_callback: that would build the Future's Condition for every command.
        future.on_cancel = lambda: commands.remove_pending_command(command_id)
        return future

    # -- events ------------------------------------------------------------------------------

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """Call ``callback(event_message)`` for every ``event_name`` event.

        Callbacks run on the dispatcher thread, one at a time, in arrival order, and for one
        event in registration order (those for ``"*"`` after those for the name). Coroutine
        functions are run to completion there too. A callback may send commands, wait for
        events, and register or remove callbacks.

        Args:
            event_name: e.g. ``"Page.loadEventFired"``; ``"*"`` for every event;
                :data:`DISCONNECTED_EVENT` for loss.
            callback: a function or coroutine function taking the event message.
            temporary: remove it after its first call.

        Returns:
            The callback id, for :meth:`remove_callback`.

        Raises:
            InvalidCommand: ``event_name`` can never match (not a string, empty, no dot) or
                ``callback`` is not callable.
        """
        name = self._check_event_name(event_name)
        return self._route.events.register_callback(name, callback, temporary)

    def remove_callback(self, callback_id: int) -> bool:
        """Remove a callback; returns False when no callback had that id."""
        return self._route.events.remove_callback(callback_id)

    def clear_callbacks(self) -> None:
        """Remove every callback."""
        self._route.events.clear_callbacks()

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
        limit = check_timeout(timeout)
        name = self._check_event_name(event_name)
        events = self._route.events
        return EventExpectation(events, events.add_waiter(name, predicate), limit)

    def wait_for_event(
        self, event_name: str, predicate: Optional[Predicate] = None, timeout: Optional[Number] = 10
    ) -> Dict[str, Any]:
        """Block for the next ``event_name`` event (matching ``predicate``, if given).

        Opens the connection if needed (an event can only come over a live socket).
        """
        self._ensure_link()
        return self.expect_event(event_name, predicate, timeout).wait()

    def wait_closed(self, timeout: Optional[Number] = None) -> bool:
        """Block until this connection (session) ends: lost, closed, detached.

        Ctrl-C interrupts the wait. Returns at once when nothing is open.

        Args:
            timeout: seconds to wait at most; ``None`` waits without limit.

        Returns:
            True if it ended, False if ``timeout`` passed first.
        """
        raise NotImplementedError

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
