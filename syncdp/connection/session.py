"""Session: one flattened CDP session multiplexed on a browser connection's socket.

``conn.attach(target_id)`` sends ``Target.attachToTarget`` with ``flatten: true``; from then on
every message for that target carries its ``sessionId`` on the browser's one websocket. The
connection's single reader routes answers by id and events by ``sessionId``; its single
dispatcher runs every session's callbacks in wire order. A session therefore costs no thread
and no socket, which is what makes 100 tabs cheap (puppeteer and chromedp work this way).

A session ends when its target detaches, is destroyed or crashes: its pending commands fail
at once (``TargetClosedError``; ``TargetCrashedError`` for a crash) and later use raises at
once. Other sessions are untouched. When the browser socket drops and comes back, a session
attached by ``attach()`` re-attaches lazily on its next use (and re-sends its ``X.enable``
commands); one that cannot (its target is gone) fails with ``TargetClosedError``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, List, Optional

from syncdp.connection.core import ConnectionCore, Link
from syncdp.connection.endpoint import Number, ProtocolSource, _Endpoint
from syncdp.connection.events import EXITING, WAIT_SLICE
from syncdp.connection.targets import SessionRoute, Targets
from syncdp.connection.validation import check_timeout
from syncdp.exceptions import SyncdpError, TargetClosedError

__all__ = ["Session"]

logger = logging.getLogger(__name__)


class Session(_Endpoint):
    """A flattened session to one target over a browser :class:`ConnectionHandler`.

    Same surface as a connection: ``execute_command``, ``send``, ``submit``, callbacks,
    ``expect_event`` / ``wait_for_event``, ``network_logs``, ``dialog``. Created by
    :meth:`ConnectionHandler.attach` or, with auto-attach on, for each child target.

    Attributes:
        target_id: the target this session talks to.
        target_info: the ``TargetInfo`` it was attached with (``type``, ``url``, ...).
        parent: the endpoint that auto-attached it, or the connection for ``attach()``.
    """

    def __init__(
        self,
        core: ConnectionCore,
        targets: Targets,
        route: SessionRoute,
        parent: _Endpoint,
        protocol_source: ProtocolSource,
    ) -> None:
        super().__init__(core, targets, route, protocol_source)
        self._state = route
        route.endpoint = self
        self.target_id = route.target_id
        self.target_info = route.target_info
        self.parent = parent
        self.auto_attached = route.auto_attached

    def register_callback(
        self, event_name: str, callback: Callable[..., Any], temporary: bool = False
    ) -> int:
        """As :meth:`ConnectionHandler.register_callback`; an ended session refuses it.

        Raises:
            TargetClosedError: the session ended (detached, target gone, closed): the callback
                could never fire.
            InvalidCommand: as for a connection.
        """
        ended = self._state.ended
        if ended is not None:
            raise ended("register_callback(%r)" % (event_name,))
        return super().register_callback(event_name, callback, temporary)

    # -- state ------------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The current ``sessionId`` (a new one after a re-attach)."""
        return str(self._state.session_id)

    @property
    def _session_id(self) -> Optional[str]:  # the old attribute, read by older library code
        return self._state.session_id

    @property
    def target_type(self) -> str:
        """``page``, ``iframe``, ``worker``, ``service_worker``, ``shared_worker``, ..."""
        return str(self.target_info.get("type", ""))

    @property
    def detached(self) -> bool:
        """Whether the session ended (detached, target gone, or closed)."""
        return self._state.ended is not None

    @property
    def connected(self) -> bool:
        """Whether the session is attached on a live socket."""
        core = self._core
        return (
            self._state.ended is None
            and core.connected
            and self._state.attached_on == core.connection_count
        )

    @property
    def connection_count(self) -> int:
        """How many times this session was attached (1 + re-attaches after reconnects)."""
        return self._state.attach_count

    def __repr__(self) -> str:
        state = "detached" if self.detached else ("attached" if self.connected else "idle")
        return "<Session %s %s target=%s %s>" % (
            self._state.session_id,
            self.target_type or "?",
            self.target_id,
            state,
        )

    @property
    def child_sessions(self) -> "List[Session]":
        """Live sessions auto-attached below this endpoint (iframes, workers)."""
        return [route.endpoint for route in self._targets.children_of(self._route)]

    # -- attaching --------------------------------------------------------------------------

    def connect(self) -> None:
        """Make sure the session is attached on a live socket (re-attaching if needed).

        Raises:
            TargetClosedError: the session ended or cannot be re-attached.
        """
        self._ensure_link()

    def _ensure_link(self, method: Optional[str] = None) -> Link:
        ended = self._state.ended
        if ended is not None:
            raise ended(method or "session")
        link = self._core.ensure_connected()
        if self._state.attached_on != self._core.connection_count:
            self._reattach(link)
        return link

    def _reattach(self, link: Link) -> None:
        """A new socket: attach again under a new ``sessionId``, replay enables and
        auto-attach (the one re-attach path; see :mod:`syncdp.connection.reconnect`)."""
        state, core = self._state, self._core
        with state.lock:
            if state.attached_on == core.connection_count:
                return
            try:
                new, _info = self._targets.attach_session_id(self.target_id, None)
            except SyncdpError as exc:
                reason = "could not be re-attached after the connection was lost: %s" % exc
                self._targets.end(state, lambda method: TargetClosedError(method, reason))
                raise TargetClosedError("Target.attachToTarget", reason) from exc
            self._targets.rekey(state, new)
            state.attached_on = core.connection_count
            state.attach_count += 1
            logger.info("re-attached to target %s (session %s)", self.target_id, new)
        core.replay_on(link, state)
        if state.auto_attach is not None:
            try:
                core.call("Target.setAutoAttach", dict(state.auto_attach), state.session_id)
            except SyncdpError as exc:
                logger.warning("re-enabling auto-attach on %r failed: %s", self, exc)

    # -- ending -----------------------------------------------------------------------------

    def ping(self, timeout: Number = 5) -> bool:
        """Whether the session is attached and the browser answers. Never raises."""
        if self.detached:
            return False
        try:
            self._ensure_link()
            return self._core.ping(float(timeout))
        except (SyncdpError, OSError):
            return False

    def wait_closed(self, timeout: Optional[Number] = None) -> bool:
        """Block until the session ends (detached, target gone, closed) or the connection
        under it ends (lost or closed); Ctrl-C interrupts the wait.

        Args:
            timeout: seconds to wait at most; ``None`` waits without limit.

        Returns:
            True if it ended, False if ``timeout`` passed first.
        """
        limit = check_timeout(timeout, allow_zero=True)
        state, core = self._state, self._core
        link = core.link
        if state.ended is not None or link is None or not link.alive:
            return True
        # Both ends are checked each slice (of 0.1 s: Ctrl-C lands between them).
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            step = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
            if step <= 0:
                return False
            if state.ended_event.wait(step) or link.ended.is_set():
                return True
            if deadline is None and EXITING.is_set():
                return True  # the interpreter exits: the session ends with it

    def close(self) -> None:
        """Detach (``Target.detachFromTarget``); the target itself stays open. Idempotent.

        Pending commands fail with ``TargetClosedError`` ("the session was closed by
        close()"); later use raises at once.
        """
        state = self._state
        if state.ended is not None:
            return
        state.events.clear_callbacks()
        link = self._core.link
        attached = self.connected and link is not None and link.closing is None
        session_id = state.session_id
        # Ended first: the browser's Target.detachedFromTarget then finds no session, and the
        # caller's own close() is what pending and later commands report.
        self._targets.end(
            state, lambda method: TargetClosedError(method, "the session was closed by close()")
        )
        if attached:
            try:
                self._core.call("Target.detachFromTarget", {"sessionId": session_id}, None, 5)
            except (SyncdpError, OSError) as exc:
                logger.debug("detaching %r: %s", self, exc)

    detach = close
