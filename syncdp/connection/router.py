"""Routing: one message from the wire in -> a future completed, or an event handed on.

No socket and no thread: the reader thread calls :meth:`Router.route_all` with what one
``receive()`` returned, and the router

* completes the pending future of an answer (``id``),
* picks the endpoint of an event: the connection's own :class:`Route` or, by ``sessionId``,
  a session's,
* runs that endpoint's reader hooks (library state that must be current before any later
  answer: target attach/detach, network log, dialog), feeds its event waiters, and
* queues ``(process_event, event)`` for the dispatcher when a callback wants the event: one
  queue hand-off per batch, in wire order.

chromedp's ``browser.go`` ``run`` is the same three-way switch: answer, session, event.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import weakref
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from syncdp.connection.commands import CommandManager
from syncdp.connection.dialog import DIALOG_CLOSED_EVENT, DIALOG_OPENING_EVENT, DialogState
from syncdp.connection.events import EventsHandler
from syncdp.connection.network_log import NETWORK_REQUEST_EVENT, NetworkLog
from syncdp.connection.reconnect import EnableTracker
from syncdp.transports.base import Parsed, parse_message

__all__ = ["ReaderHook", "ReaderHooks", "Route", "Router", "defer", "truncate"]

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("syncdp.wire")

ReaderHook = Callable[[Dict[str, Any]], None]
Work = Tuple[Callable[[Any], Any], Any]
"""One dispatcher item: ``function(argument)``, run on the dispatcher thread."""

_WIRE_LIMIT = 500
_reader = threading.local()  # .router: the Router of the reader thread running now


def truncate(data: Union[str, bytes]) -> str:
    """A wire message for a log line: decoded, at most ~500 characters."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    if len(text) > _WIRE_LIMIT:
        return "%s... (%d chars)" % (text[:_WIRE_LIMIT], len(text))
    return text


class _WeakHook:
    """A reader hook that is a bound method, held weakly (see :meth:`ReaderHooks.add`)."""

    __slots__ = ("ref", "name")

    def __init__(self, method: ReaderHook) -> None:
        self.ref = weakref.WeakMethod(method)
        self.name = getattr(method, "__qualname__", "hook")

    def __call__(self, message: Dict[str, Any]) -> None:
        method = self.ref()
        if method is not None:
            method(message)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _WeakHook):
            return self.ref == other.ref
        return self.ref() == other

    def __hash__(self) -> int:
        return hash(self.ref)

    def __repr__(self) -> str:
        return "<weak hook %s>" % self.name


class ReaderHooks:
    """Functions run on the reader thread for some event names, before waiters and callbacks.

    Copy-on-write: ``by_event`` is replaced, never mutated, so the reader reads it unlocked.
    A hook must be quick and must never send a command and wait for it: the reader is the
    thread that would deliver the answer.
    """

    def __init__(self) -> None:
        self.by_event: Dict[str, Tuple[ReaderHook, ...]] = {}
        self._lock = threading.Lock()

    def add(self, event_name: str, hook: ReaderHook, *, weak: bool = False) -> None:
        """Run ``hook(event)`` for every ``event_name`` event.

        With ``weak``, a bound method is held weakly: the reader thread keeps the connection
        alive and must not keep alive the Tab or Browser that owns the hook (their GC
        finalizer ends the browser).
        """
        if weak and inspect.ismethod(hook):
            hook = _WeakHook(hook)
        with self._lock:
            by_event = dict(self.by_event)
            by_event[event_name] = by_event.get(event_name, ()) + (hook,)
            self.by_event = by_event

    def remove(self, event_name: str, hook: ReaderHook) -> None:
        """Remove a hook added by :meth:`add` (no error if absent)."""
        with self._lock:
            by_event = dict(self.by_event)
            left = tuple(h for h in by_event.get(event_name, ()) if h != hook)
            if left:
                by_event[event_name] = left
            else:
                by_event.pop(event_name, None)
            self.by_event = by_event

    @staticmethod
    def run(found: Iterable[ReaderHook], message: Dict[str, Any]) -> None:
        """Run ``found`` hooks for ``message``; a failing hook is logged, the others run."""
        for hook in found:
            try:
                hook(message)
            except Exception:
                logger.exception("reader hook %r failed", hook)


class Route:
    """What the reader delivers one endpoint's events to (the connection or one session).

    Attributes:
        session_id: the ``sessionId`` the endpoint's messages carry (``None``: the
            connection's own target); a re-attach changes it.
        events: callbacks and waiters.
        hooks: reader hooks (the network log and dialog state are two of them).
        network_log: ``Network.requestWillBeSent`` events seen.
        dialog: the open JavaScript dialog.
        auto_attach: the ``Target.setAutoAttach`` parameters while auto-attach is on.
        enables: the ``X.enable`` commands a new socket must send again.
        endpoint: the public object (ConnectionHandler or Session) this route serves.
    """

    def __init__(self, session_id: Optional[str], network_logs_limit: Optional[int]) -> None:
        self.session_id = session_id
        self.events = EventsHandler()
        self.hooks = ReaderHooks()
        self.network_log = NetworkLog(network_logs_limit)
        self.dialog = DialogState()
        self.auto_attach: Optional[Dict[str, Any]] = None
        self.enables = EnableTracker()
        self.endpoint: Any = None
        self.hooks.add(NETWORK_REQUEST_EVENT, self.network_log.record)
        self.hooks.add(DIALOG_OPENING_EVENT, self.dialog.opened)
        self.hooks.add(DIALOG_CLOSED_EVENT, self.dialog.closed)


class Router:
    """Routes the messages one reader receives (one per connection epoch).

    Args:
        commands: the pending commands, completed by answers.
        root: the connection's own route (events without ``sessionId``).
        sessions: ``sessionId`` -> route, read without a lock (its owner replaces entries
            under its own lock).
        put: hands a batch of :data:`Work` to the dispatcher.
    """

    def __init__(
        self,
        commands: CommandManager,
        root: Route,
        sessions: Mapping[str, Route],
        put: Callable[[List[Work]], None],
    ) -> None:
        self._resolve = commands.resolve_command
        self._root = root
        self._sessions = sessions
        self.put = put
        self._batch: List[Work] = []

    def bind_to_current_thread(self) -> None:
        """Make this the router :func:`defer` queues to on the calling (reader) thread."""
        _reader.router = self

    def route_all(self, messages: Iterable[Union[str, bytes]]) -> None:
        """Parse and route each message, then hand the events they queued to the dispatcher."""
        parse = parse_message
        route = self.route
        resolve = self._resolve
        wire_debug = wire_logger.isEnabledFor(logging.DEBUG)
        for data in messages:
            if wire_debug:
                wire_logger.debug("<- %s", truncate(data))
            if type(data) is Parsed:
                message = data.value  # parsed by the transport already (a pipe's tail)
            else:
                try:
                    message = parse(data)
                except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                    logger.warning("skipping a message that is not JSON: %s", truncate(data))
                    continue
            if type(message) is not dict:
                logger.warning("skipping a JSON message that is not an object: %s", truncate(data))
                continue
            command_id = message.get("id")
            if type(command_id) is int:  # the common case inline: an answer
                resolve(command_id, message)
            else:
                route(message)
        if self._batch:
            self.flush()

    def route(self, message: Dict[str, Any]) -> None:
        """Route one parsed message: answer, session event or connection event."""
        command_id = message.get("id")
        if command_id is not None:
            if type(command_id) is int:
                self._resolve(command_id, message)
            else:
                logger.warning("skipping an answer with a non-integer id: %s", _short(message))
            return
        method = message.get("method")
        if type(method) is not str:
            logger.warning("skipping a message with neither id nor method: %s", _short(message))
            return
        session_id = message.get("sessionId")
        if session_id is None:
            route = self._root
        elif type(session_id) is str:
            found_route = self._sessions.get(session_id)
            if found_route is None:
                logger.debug("dropping %s for unknown session %s", method, session_id)
                return
            route = found_route
        else:
            logger.warning("skipping an event with a non-string sessionId: %s", _short(message))
            return
        found = route.hooks.by_event.get(method)
        if found:
            route.hooks.run(found, message)
        events = route.events
        if events.observe(message):
            self._batch.append((events.process_event, message))

    def defer(self, function: Callable[[Any], Any], argument: Any) -> None:
        """Queue ``function(argument)`` for the dispatcher behind the events routed so far.

        Reader thread only (a reader hook that has dispatcher work to do).
        """
        self._batch.append((function, argument))

    def flush(self) -> None:
        """Hand what was queued to the dispatcher (one batch)."""
        batch = self._batch
        if batch:
            self._batch = []
            self.put(batch)

    def flush_work(self, work: List[Work]) -> None:
        """Queue ``work`` behind everything routed so far, and hand it all over."""
        self._batch.extend(work)
        self.flush()


def defer(function: Callable[[Any], Any], argument: Any) -> None:
    """From a reader hook: run ``function(argument)`` on the dispatcher, in wire order.

    Raises:
        RuntimeError: not called on a reader thread.
    """
    router: Optional[Router] = getattr(_reader, "router", None)
    if router is None:
        raise RuntimeError("defer() is for reader hooks, on the reader thread")
    router.defer(function, argument)


def _short(message: Dict[str, Any]) -> str:
    return truncate(json.dumps(message, default=repr))
