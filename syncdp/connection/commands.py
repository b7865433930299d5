"""CommandManager: command ids and their pending futures.

Pure bookkeeping: no I/O and no threads of its own. Whoever pops an id from the pending table
completes its future, so an answer, a timeout, a Ctrl-C and a lost connection can race without
a future being completed twice or left behind.
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["CommandManager", "CommandFuture", "ErrorFactory"]

logger = logging.getLogger(__name__)

# One pending entry: the future, the method name (for errors and logs), the sessionId the
# command was sent with (None: the connection's own target) and the connection epoch (which
# socket it was sent on: only that socket's end fails it).
_Entry = Tuple["Future[Dict[str, Any]]", str, Optional[str], int]
ErrorFactory = Callable[[str], BaseException]
"""Builds the exception for one failed command from its method name."""


_DONE = (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED)

# Guards the lazy creation of every CommandFuture's Condition (see CommandFuture).
_condition_lock = threading.Lock()


class CommandFuture(Future[Dict[str, Any]]):
    """A ``concurrent.futures.Future`` built for one blocked caller and one completer.

    Two things make it cheaper than a plain ``Future`` on the per-command path, where it is
    created, completed by the reader and collected by its caller ~every 100 us:

    * The caller waits on ``completed``, a bare lock released once when the future
      completes: one lock wake-up instead of ``Condition.wait``'s per-wait lock, waiter
      list and condition re-acquire (measured: ~11 us per command on a 2-core machine).
    * The ``Condition`` that ``Future``'s own methods synchronise on is only built when one
      of them is first called (``add_done_callback``, ``cancel``, ``exception``,
      ``concurrent.futures.wait``...). Until then nobody but the completer can touch the
      state, so ``set_result`` just stores it; ``_condition_lock`` makes "complete without
      a Condition" and "build the Condition" mutually exclusive, so a future that is
      looked at concurrently is always completed through ``Future``'s own locked path.
    * ``result`` and ``done`` (what a ``submit()`` caller uses) need no Condition: the state
      only moves forward, a finished future answers at once, and a pending one is waited
      for on ``completed`` (acquired and released again, so every waiting thread wakes).
      That wait is for ``submit()`` futures: ``ConnectionCore.wait`` keeps ``completed``
      acquired, and its futures are never handed out.
    """

    def __init__(self) -> None:  # Future.__init__ minus the Condition, built on demand
        self._state = PENDING
        self._result: Any = None
        self._exception: Optional[BaseException] = None
        self._waiters: List[Any] = []
        self._done_callbacks: List[Any] = []
        self.completed = threading.Lock()
        self.completed.acquire()
        self.on_cancel: Optional[Callable[[], Any]] = None  # run once cancel() succeeded

    def __getattr__(self, name: str) -> Any:  # only reached while _condition is missing
        if name != "_condition":
            raise AttributeError(name)
        with _condition_lock:
            condition = self.__dict__.get("_condition")
            if condition is None:
                condition = self.__dict__["_condition"] = threading.Condition()
        return condition

    def _complete_unwatched(self, result: Any, exception: Optional[BaseException]) -> bool:
        """Complete without a Condition if nobody has used one yet; False otherwise."""
        if "_condition" in self.__dict__:
            return False
        with _condition_lock:
            if "_condition" in self.__dict__:
                return False
            state = self._state
            if state == PENDING:
                self._result = result
                self._exception = exception
                self._state = FINISHED
        if state != PENDING:  # raised outside the lock: repr() needs the Condition
            raise InvalidStateError("%s: %r" % (state, self))
        self.completed.release()
        return True

    def _completed(self) -> None:
        try:
            self.completed.release()
        except RuntimeError:  # released already
            pass

    def set_result(self, result: Any) -> None:
        if not self._complete_unwatched(result, None):
            super().set_result(result)
            self._completed()

    def set_exception(self, exception: Optional[BaseException]) -> None:
        if exception is None or not self._complete_unwatched(None, exception):
            super().set_exception(exception)
            self._completed()

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled:
            self._completed()
            if self.on_cancel is not None:
                self.on_cancel()
        return cancelled

    def done(self) -> bool:
        """Whether the future is finished or cancelled (a read: its state only moves on)."""
        return self._state in _DONE

    def result(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """``Future.result``, without ``Future``'s Condition on the common paths.

        A finished future answers at once; a pending one is waited for on ``completed``
        (acquired, then released again for any other thread waiting on it). Only a
        cancelled or timed-out wait goes through ``Future.result`` (which raises).
        """
        if self._state != FINISHED:
            completed = self.completed
            if timeout is None:
                acquired = completed.acquire()
            elif timeout > 0:
                acquired = completed.acquire(True, timeout)
            else:
                acquired = completed.acquire(False)
            if acquired:
                completed.release()
            if self._state != FINISHED:
                return super().result(0)  # CancelledError, or TimeoutError
        return self.outcome()

    def outcome(self) -> Dict[str, Any]:
        """The result, or raise the exception; only once the future is done."""
        if self._state != FINISHED:
            return super().result(0)  # cancelled: raises CancelledError
        exception = self._exception
        if exception is not None:
            try:
                raise exception
            finally:
                # The traceback holds this frame: break its cycle through self._exception.
                exception = None
                self = None  # type: ignore[assignment]
        result: Dict[str, Any] = self._result
        return result


def _fail(entries: List[_Entry], make_error: ErrorFactory) -> int:
    failed = 0
    for index, (future, method, _session, _epoch) in enumerate(entries):
        try:
            future.set_exception(make_error(method))
            failed += 1
        except InvalidStateError:  # cancelled by its submitter meanwhile
            pass
        except BaseException:  # Ctrl-C: the popped entries left must still be failed
            _fail(entries[index + 1 :], make_error)
            raise
    return failed


class CommandManager:
    """Hands out command ids and keeps the futures of commands awaiting their answer."""

    def __init__(self) -> None:
        # The lock guards both the id counter and the table: an id is registered before the
        # command is sent (puppeteer's CallbackRegistry.create), so its answer can never
        # arrive ahead of its entry.
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: Dict[int, _Entry] = {}

    def create_command_future(
        self, method: str, session_id: Optional[str] = None, epoch: int = 0
    ) -> Tuple[int, CommandFuture]:
        """Register a new pending command.

        Args:
            method: the CDP method, kept for error messages.
            session_id: the flattened session it is sent to, if any.
            epoch: the connection epoch (socket) it is sent on.

        Returns:
            The fresh command id and the future its answer will complete.
        """
        future = CommandFuture()
        with self._lock:
            command_id = next(self._ids)
            self._pending[command_id] = (future, method, session_id, epoch)
        return command_id, future

    def resolve_command(self, command_id: int, response: Dict[str, Any]) -> bool:
        """Complete the future of ``command_id`` with ``response``.

        Returns:
            False when the id is unknown: never sent, already answered, timed out or
            abandoned. Such late answers are dropped (logged at DEBUG).
        """
        with self._lock:
            entry = self._pending.pop(command_id, None)
        if entry is None:
            logger.debug("dropping answer to unknown or expired command id %s", command_id)
            return False
        try:
            entry[0].set_result(response)
        except InvalidStateError:  # the caller cancelled its submit() future
            logger.debug("dropping answer to cancelled command %s (%s)", command_id, entry[1])
        return True

    def remove_pending_command(self, command_id: int) -> bool:
        """Forget ``command_id`` (timeout, Ctrl-C, cancel). Returns whether it was pending."""
        with self._lock:
            return self._pending.pop(command_id, None) is not None

    def fail_all(self, make_error: ErrorFactory, epoch: Optional[int] = None) -> int:
        """Fail every pending command (sent on ``epoch``, if given) with ``make_error(method)``.

        A fresh exception per command: each caller raises its own instance, naming its own
        method, with a traceback that starts in the caller's thread. Returns how many.
        """
        with self._lock:
            if epoch is None:
                entries: List[_Entry] = list(self._pending.values())
                self._pending.clear()
            else:
                ids = [i for i, entry in self._pending.items() if entry[3] == epoch]
                entries = [self._pending.pop(i) for i in ids]
        return _fail(entries, make_error)

    def fail_matching(
        self,
        predicate: Callable[[str], bool],
        make_error: ErrorFactory,
        session_id: Optional[str] = None,
    ) -> int:
        """Fail the pending commands of ``session_id`` whose method satisfies ``predicate``.

        Returns how many were failed.
        """
        with self._lock:
            ids = [
                i
                for i, (_f, method, session, _epoch) in self._pending.items()
                if session == session_id and predicate(method)
            ]
            entries = [self._pending.pop(i) for i in ids]
        return _fail(entries, make_error)

    @property
    def pending_count(self) -> int:
        """How many commands await an answer (all sessions)."""
        return len(self._pending)

    def pending_count_for(self, session_id: Optional[str]) -> int:
        """How many commands of ``session_id`` await an answer."""
        with self._lock:
            return sum(1 for entry in self._pending.values() if entry[2] == session_id)
