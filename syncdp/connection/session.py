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
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from syncdp.connection.endpoint import Number, _any_method, _Endpoint
from syncdp.exceptions import (
    ConnectionClosedError,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.connection.handler import ConnectionHandler, _Link

__all__ = ["Session"]

logger = logging.getLogger(__name__)

ErrorFactory = Callable[[str], BaseException]


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
        root: "ConnectionHandler",
        session_id: str,
        target_info: Dict[str, Any],
        parent: Optional[_Endpoint] = None,
        *,
        auto_attached: bool = False,
    ) -> None:
        super().__init__(root._network_logs_limit, root._replay_enables)
        self._root = root
        self._command_manager = root._command_manager
        self._session_id = session_id
        self.target_id = str(target_info.get("targetId", ""))
        self.target_info = target_info
        self.parent: _Endpoint = parent if parent is not None else root
        self.auto_attached = auto_attached
        self._attached_on = root.connection_count
        self._attach_count = 1
        self._ended: Optional[ErrorFactory] = None
        self._ended_event = threading.Event()
        self._lock = threading.Lock()

    # -- state ------------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The current ``sessionId`` (a new one after a re-attach)."""
        return str(self._session_id)

    @property
    def target_type(self) -> str:
        """``page``, ``iframe``, ``worker``, ``service_worker``, ``shared_worker``, ..."""
        return str(self.target_info.get("type", ""))

    @property
    def detached(self) -> bool:
        """Whether the session ended (detached, target gone, or closed)."""
        return self._ended is not None

    @property
    def connected(self) -> bool:
        """Whether the session is attached on a live socket."""
        return (
            self._ended is None
            and self._root.connected
            and self._attached_on == self._root.connection_count
        )

    @property
    def connection_count(self) -> int:
        """How many times this session was attached (1 + re-attaches after reconnects)."""
        return self._attach_count

    def __repr__(self) -> str:
        state = "detached" if self._ended else ("attached" if self.connected else "idle")
        return "<Session %s %s target=%s %s>" % (
            self._session_id,
            self.target_type or "?",
            self.target_id,
            state,
        )

    # -- attaching --------------------------------------------------------------------------

    def connect(self) -> None:
        """Make sure the session is attached on a live socket (re-attaching if needed).

        Raises:
            TargetClosedError: the session ended or cannot be re-attached.
        """
        self._ensure_link()

    def _ensure_link(self, method: Optional[str] = None) -> "_Link":
        ended = self._ended
        if ended is not None:
            raise ended(method or "session")
        link = self._root._ensure_connected()
        if self._attached_on != self._root.connection_count:
            self._reattach(link)
        return link

    def _reattach(self, link: "_Link") -> None:
        with self._lock:
            if self._attached_on == self._root.connection_count:
                return
            old = self._session_id
            try:
                new, _info = self._root._attach_session_id(self.target_id, None)
            except SyncdpError as exc:
                reason = "could not be re-attached after the connection was lost: %s" % exc
                self._end(lambda method: TargetClosedError(method, reason))
                raise TargetClosedError("Target.attachToTarget", reason) from exc
            self._root._rekey_session(self, old, new)
            self._attached_on = self._root.connection_count
            self._attach_count += 1
            logger.info("re-attached to target %s (session %s)", self.target_id, new)
        self._replay_enabled(link)
        if self._auto_attach is not None:
            try:
                self.send("Target.setAutoAttach", dict(self._auto_attach))
            except SyncdpError as exc:
                logger.warning("re-enabling auto-attach on %r failed: %s", self, exc)

    # -- ending -----------------------------------------------------------------------------

    def _end(self, make_error: ErrorFactory) -> None:
        """Mark the session ended and fail everything that waits on it (reader thread ok)."""
        if self._ended is not None:
            return
        self._ended = make_error
        self._ended_event.set()
        self._root._forget_session(self)
        session_id = self._session_id
        self._command_manager.fail_matching(_any_method, make_error, session_id)
        self._events_handler.fail_waiters(lambda event: make_error("waiting for " + event))
        for child in self._root._children_of(self):  # its iframes and workers go with it
            child._end(make_error)

    def _wait_ended_by_peer(self, timeout: float) -> bool:
        return self._ended_event.wait(timeout)

    def _crashed(self) -> None:
        """The target crashed: fail pending commands, keep the session (reload recovers)."""
        self._command_manager.fail_matching(
            _any_method,
            lambda method: TargetCrashedError(method, "the target's renderer process crashed"),
            self._session_id,
        )

    def ping(self, timeout: Number = 5) -> bool:
        """Whether the session is attached and the browser answers. Never raises."""
        if self._ended is not None:
            return False
        try:
            self._ensure_link()
        except SyncdpError:
            return False
        return self._root.ping(timeout)

    def close(self) -> None:
        """Detach (``Target.detachFromTarget``); the target itself stays open. Idempotent.

        Pending commands fail with ``TargetClosedError``; later use raises at once.
        """
        if self._ended is not None:
            return
        self._events_handler.clear_callbacks()
        root_link = self._root._link
        if self.connected and root_link is not None and not root_link.closing:
            try:
                self._root.send(
                    "Target.detachFromTarget", {"sessionId": self._session_id}, timeout=5
                )
            except (SyncdpError, OSError) as exc:
                logger.debug("detaching %r: %s", self, exc)
        self._end(lambda method: TargetClosedError(method, "the session was closed by close()"))

    detach = close

    def _lost_with_connection(self, message: str) -> None:
        """The socket dropped: auto-attached children cannot be found again by id."""
        self._end(lambda method: ConnectionClosedError(message, method=method))
