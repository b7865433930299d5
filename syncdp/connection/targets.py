"""Targets: the flattened sessions of one connection, attached and ended on the reader side.

The connection's reader hooks for ``Target.attachedToTarget`` / ``detachedFromTarget`` /
``targetDestroyed`` / ``targetCrashed`` (and ``Inspector.targetCrashed`` on sessions) keep
the session table current before any later answer is returned; announcing a new child to
callbacks and resuming it happen on the dispatcher (they send commands).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from syncdp.connection.core import ConnectionCore
from syncdp.connection.router import Route, defer
from syncdp.exceptions import (
    ConnectionClosedError,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)

__all__ = ["ATTACHED_EVENT", "ErrorFactory", "SessionRoute", "Targets"]

logger = logging.getLogger(__name__)

ATTACHED_EVENT = "Syncdp.attachedToTarget"
"""A synthetic event dispatched on an endpoint with auto-attach on, once per new child
session: ``params`` holds ``session`` (the :class:`Session`), ``targetInfo`` and
``waitingForDebugger``. Callbacks run before the child is resumed, so they can enable
domains (``Runtime.enable`` for a worker's console) without missing its first events."""

ErrorFactory = Callable[[str], BaseException]


class SessionRoute(Route):
    """A session's route plus its life: target, parent, end, attachment count.

    Attributes:
        target_id, target_info: the target (``TargetInfo`` as attached).
        parent: the parent endpoint's route (the connection's for ``attach()``).
        auto_attached: created by auto-attach (cannot be re-attached after a loss).
        ended: builds the error later use raises, once the session ended.
        attached_on: the connection count it is attached on (a re-attach is due when stale).
    """

    def __init__(
        self,
        session_id: str,
        target_info: Dict[str, Any],
        parent: Route,
        network_logs_limit: Optional[int],
        attached_on: int,
        auto_attached: bool = False,
    ) -> None:
        super().__init__(session_id, network_logs_limit)
        self.target_id = str(target_info.get("targetId", ""))
        self.target_info = target_info
        self.parent = parent
        self.auto_attached = auto_attached
        self.ended: Optional[ErrorFactory] = None
        self.ended_event = threading.Event()
        self.attached_on = attached_on
        self.attach_count = 1
        self.lock = threading.Lock()  # one re-attach at a time

    def __repr__(self) -> str:
        return "<session %s target=%s>" % (self.session_id, self.target_id)


class Targets:
    """The session table of one connection and the target events that change it.

    Args:
        core: the connection.
        routes: the table of session routes the core routes by (empty).
        make_session: builds the public Session object for an auto-attached child route.
        network_logs_limit: for the routes of auto-attached children.
    """

    def __init__(
        self,
        core: ConnectionCore,
        routes: Dict[str, SessionRoute],
        make_session: Callable[[SessionRoute], Any],
        network_logs_limit: Optional[int],
    ) -> None:
        self._core = core
        self._make_session = make_session
        self._limit = network_logs_limit
        self.routes = routes  # the core's sessions table: the reader reads it unlocked
        self._lock = threading.Lock()  # changes to routes; the reader reads it unlocked
        root = core.root
        root.hooks.add("Target.attachedToTarget", lambda event: self._on_attached(root, event))
        root.hooks.add("Target.detachedFromTarget", self._on_detached)
        root.hooks.add("Target.targetDestroyed", self._on_target_destroyed)
        root.hooks.add("Target.targetCrashed", self._on_target_crashed)
        core.on_lost.append(self._connection_lost)

    # -- the table --------------------------------------------------------------------------

    def register(self, route: SessionRoute) -> SessionRoute:
        """Add ``route`` (or return the one already there for its ``sessionId``)."""
        with self._lock:
            existing = self.routes.get(str(route.session_id))
            if existing is not None:
                return existing
            self._install(route)
            self.routes[str(route.session_id)] = route
        return route

    def _install(self, route: SessionRoute) -> None:
        route.hooks.add("Target.attachedToTarget", lambda event: self._on_attached(route, event))
        route.hooks.add("Target.detachedFromTarget", self._on_detached)
        route.hooks.add("Inspector.targetCrashed", lambda event: self.crashed(route))

    def rekey(self, route: SessionRoute, new: str) -> None:
        """``route`` was re-attached under a new ``sessionId``."""
        with self._lock:
            old = route.session_id
            if old is not None and self.routes.get(old) is route:
                del self.routes[old]
            route.session_id = new
            self.routes[new] = route

    def children_of(self, parent: Route) -> List[SessionRoute]:
        """Live sessions auto-attached below ``parent``."""
        return [r for r in list(self.routes.values()) if r.parent is parent and r.ended is None]

    def sessions(self) -> List[Any]:
        """Every live session's public object."""
        return [r.endpoint for r in list(self.routes.values()) if r.ended is None]

    # -- ending -----------------------------------------------------------------------------

    def end(self, route: SessionRoute, make_error: ErrorFactory) -> None:
        """End a session: later use raises ``make_error(method)``; pending commands, waiters
        and child sessions fail with it now (any thread, the reader too)."""
        with self._lock:  # the first end wins: close() and a reader hook may race
            if route.ended is not None:
                return
            route.ended = make_error
            if self.routes.get(str(route.session_id)) is route:
                del self.routes[str(route.session_id)]
        route.ended_event.set()
        self._core.commands.fail_matching(_any_method, make_error, route.session_id)
        route.events.fail_waiters(lambda event: make_error("waiting for " + event))
        for child in self.children_of(route):  # its iframes and workers go with it
            self.end(child, make_error)

    def end_all(self, message: str) -> None:
        """End every session (the connection was closed)."""
        for route in list(self.routes.values()):
            self.end(route, lambda method: ConnectionClosedError(message, method=method))

    def crashed(self, route: SessionRoute) -> None:
        """The target crashed: fail pending commands, keep the session (reload recovers)."""
        self._core.commands.fail_matching(
            _any_method,
            lambda method: TargetCrashedError(method, "the target's renderer process crashed"),
            route.session_id,
        )

    def _connection_lost(
        self, message: str, code: Optional[int], reason: Optional[str], closing: bool
    ) -> None:
        for route in list(self.routes.values()):
            if route.auto_attached or closing:  # children cannot be found again by id
                self.end(route, lambda method: ConnectionClosedError(message, method=method))
                continue
            route.events.fail_waiters(
                lambda event: ConnectionClosedError(
                    message + " while waiting for " + event, code, reason
                )
            )

    # -- reader hooks (reader thread): quick, never wait for an answer ----------------------

    def _on_attached(self, parent: Route, event: Dict[str, Any]) -> None:
        if parent.auto_attach is None:
            return  # an explicit attach(): it registers the session itself
        params = event.get("params") or {}
        session_id = params.get("sessionId")
        if not isinstance(session_id, str) or session_id in self.routes:
            return
        child = SessionRoute(
            session_id,
            dict(params.get("targetInfo") or {}),
            parent,
            self._limit,
            self._core.connection_count,
            auto_attached=True,
        )
        child.endpoint = self._make_session(child)
        if self.register(child) is child:
            defer(self._announce, (parent, child, bool(params.get("waitingForDebugger"))))

    def _on_detached(self, event: Dict[str, Any]) -> None:
        params = event.get("params") or {}
        route = self.routes.get(str(params.get("sessionId")))
        if route is not None:
            target = route.target_id
            self.end(route, lambda method: TargetClosedError(method, "the target %s detached" % target))

    def _on_target_destroyed(self, event: Dict[str, Any]) -> None:
        target = (event.get("params") or {}).get("targetId")
        for route in list(self.routes.values()):
            if route.target_id == target:
                self.end(
                    route,
                    lambda method: TargetClosedError(method, "the target %s was destroyed" % target),
                )

    def _on_target_crashed(self, event: Dict[str, Any]) -> None:
        target = (event.get("params") or {}).get("targetId")
        for route in list(self.routes.values()):
            if route.target_id == target:
                self.crashed(route)

    # -- dispatcher side ---------------------------------------------------------------------

    def _announce(self, item: Tuple[Route, SessionRoute, bool]) -> None:
        parent, child, waiting = item
        if parent.events.has_callbacks(ATTACHED_EVENT):
            parent.events.process_event(
                {
                    "method": ATTACHED_EVENT,
                    "params": {
                        "session": child.endpoint,
                        "targetInfo": child.target_info,
                        "waitingForDebugger": waiting,
                    },
                }
            )
        auto = parent.auto_attach
        if auto is not None and child.ended is None:
            child.auto_attach = dict(auto)
            try:
                self._core.call("Target.setAutoAttach", dict(auto), child.session_id)
            except SyncdpError as exc:
                logger.debug("auto-attach below %r not possible: %s", child, exc)
        if waiting and child.ended is None:
            try:
                self._core.call("Runtime.runIfWaitingForDebugger", None, child.session_id)
            except SyncdpError as exc:
                logger.warning("resuming %r failed: %s", child, exc)

    def set_auto_attach(self, route: Route, enabled: bool, wait_for_debugger: bool) -> None:
        """Turn auto-attach on or off below ``route``."""
        params = {
            "autoAttach": bool(enabled),
            "waitForDebuggerOnStart": bool(enabled and wait_for_debugger),
            "flatten": True,
        }
        # Set before sending: the children that exist already are announced at once.
        route.auto_attach = params if enabled else None
        self._core.call("Target.setAutoAttach", params, route.session_id)

    def attach_session_id(
        self, target_id: str, timeout: Optional[float]
    ) -> Tuple[str, Dict[str, Any]]:
        """``Target.attachToTarget`` (flattened): the new ``sessionId`` and the TargetInfo."""

        def for_target(event: Dict[str, Any]) -> bool:
            info = (event.get("params") or {}).get("targetInfo") or {}
            return bool(info.get("targetId") == target_id)

        # Chromium sends Target.attachedToTarget (with the TargetInfo) before the answer.
        events = self._core.root.events
        waiter = events.add_waiter("Target.attachedToTarget", for_target)
        try:
            result = self._core.call(
                "Target.attachToTarget", {"targetId": target_id, "flatten": True}, None, timeout
            )
            attached = waiter.wait(timeout)
        finally:
            events.remove_waiter(waiter)
        info = dict((attached.get("params") or {}).get("targetInfo") or {})
        return str(result["sessionId"]), info


def _any_method(method: str) -> bool:
    return True
