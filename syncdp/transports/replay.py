"""Replaying a recorded CDP session: a transport that answers from a recording, no browser.

:class:`ReplayTransport` reads a file written by :mod:`syncdp.transports.recording` and plays
the browser's side of it:

* each command sent is matched against the recorded commands not matched yet, by session,
  method and parameters (what ``replay_match`` says; see :data:`MATCH_MODES`). The live
  command goes through the same redaction the recorder applied, so a redacted header or a
  hashed body still matches. Ids that differ run to run (:data:`VOLATILE_KEYS`) are not
  compared but mapped: the first time a live id stands where the recording has another, the
  two are paired, and from then on that pairing must hold both ways; recorded answers and
  events carry the live id in its place;
* what the browser sent (answers, with the live command's id, and events) is delivered in
  its recorded order: a message is delivered once every command recorded before it has
  been sent. ``speed=None`` (the default) delivers at once; ``speed=1.0`` keeps the recorded
  gaps between messages (``2.0`` halves them);
* a command the recording does not hold raises
  :class:`~syncdp.exceptions.ReplayMismatchError` from ``send`` (on the caller's thread),
  naming the command, its position and the nearest recorded command with a diff of the
  parameters; so does a command past the end of the recording, and :meth:`ReplayTransport.finish`
  when recorded commands were never sent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from syncdp.exceptions import InvalidCommand, ReplayMismatchError
from syncdp.transports.base import TransportClosed
from syncdp.transports.recording import VOLATILE_KEYS, read_recording, redact_message

__all__ = ["MATCH_MODES", "MatchFunction", "ReplayTransport", "VOLATILE_KEYS", "check_replay_options"]

logger = logging.getLogger(__name__)

MatchFunction = Callable[[Dict[str, Any], Dict[str, Any]], bool]
"""``replay_match=`` as a function: ``(recorded, sent) -> bool`` for two command messages
(``method``, ``params``, ``sessionId``; the sent one redacted like the recording)."""

MATCH_MODES = ("params", "method", "strict")
"""``"params"`` (default): session, method and parameters, volatile ids mapped, commands in
any order; ``"method"``: session and method only; ``"strict"``: parameters compared
exactly (volatile ids too) and commands in their recorded order."""

_MISSING = object()
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Command:
    __slots__ = ("position", "index", "message", "matched")

    def __init__(self, position: int, index: int, message: Dict[str, Any]) -> None:
        self.position = position  # 1-based among the recorded commands
        self.index = index  # in the record stream
        self.message = message
        self.matched = False

    def label(self) -> str:
        return "#%d %s" % (self.position, self.message.get("method"))


def _diff(recorded: Any, sent: Any, path: str, out: List[str]) -> None:
    if len(out) >= 12:
        return
    if isinstance(recorded, dict) and isinstance(sent, dict):
        for key in sorted(set(recorded) | set(sent)):
            where = "%s.%s" % (path, key) if path else key
            old, new = recorded.get(key, _MISSING), sent.get(key, _MISSING)
            if old is _MISSING:
                out.append("  %s: not recorded, sent %s" % (where, _short(new)))
            elif new is _MISSING:
                out.append("  %s: recorded %s, not sent" % (where, _short(old)))
            else:
                _diff(old, new, where, out)
    elif isinstance(recorded, list) and isinstance(sent, list) and len(recorded) == len(sent):
        for index, (old, new) in enumerate(zip(recorded, sent)):
            _diff(old, new, "%s[%d]" % (path, index), out)
    elif recorded != sent:
        out.append("  %s: recorded %s, sent %s" % (path or "params", _short(recorded), _short(sent)))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."


def _diff_count(recorded: Any, sent: Any) -> int:
    lines: List[str] = []
    _diff(recorded, sent, "", lines)
    return len(lines)


class _IdMap:
    """The pairing of recorded and live volatile ids, kept consistent both ways."""

    def __init__(self) -> None:
        self.to_live: Dict[Any, Any] = {}
        self.to_recorded: Dict[Any, Any] = {}

    def compatible(self, recorded: Any, live: Any, pending: Dict[Any, Any]) -> bool:
        known = self.to_live.get(recorded, pending.get(recorded, _MISSING))
        if known is not _MISSING:
            return bool(known == live)
        back = self.to_recorded.get(live, _MISSING)
        if back is not _MISSING:
            return bool(back == recorded)
        if live in pending.values():
            return False
        pending[recorded] = live
        return True

    def bind(self, pending: Dict[Any, Any]) -> None:
        for recorded, live in pending.items():
            self.to_live[recorded] = live
            self.to_recorded[live] = recorded

    def to_live_value(self, value: Any, key: Optional[str] = None) -> Any:
        """``value`` (a recorded message part) with paired ids replaced by the live ones."""
        if isinstance(value, dict):
            return {name: self.to_live_value(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [self.to_live_value(item) for item in value]
        if key in VOLATILE_KEYS:
            return self.to_live.get(value, value)
        return value


def _same(recorded: Any, live: Any, ids: Optional[_IdMap], pending: Dict[Any, Any], key: str) -> bool:
    if ids is not None and key in VOLATILE_KEYS and not isinstance(recorded, (dict, list)):
        return ids.compatible(recorded, live, pending)
    if isinstance(recorded, dict):
        if not isinstance(live, dict) or recorded.keys() != live.keys():
            return False
        return all(_same(recorded[name], live[name], ids, pending, name) for name in recorded)
    if isinstance(recorded, list):
        if not isinstance(live, list) or len(recorded) != len(live):
            return False
        return all(_same(old, new, ids, pending, "") for old, new in zip(recorded, live))
    return bool(recorded == live) and type(recorded) is type(live)


def check_replay_options(speed: Any, match: Any) -> None:
    """Check ``replay_speed`` and ``replay_match`` (before anything is read).

    Raises:
        InvalidCommand: either is bad (the message names it).
    """
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0
    ):
        raise InvalidCommand("replay_speed must be None or a number > 0, got %r" % (speed,))
    if not callable(match) and match not in MATCH_MODES:
        raise InvalidCommand(
            "replay_match must be one of %s or a function (recorded, sent) -> bool, got %r"
            % (", ".join(MATCH_MODES), match)
        )


class ReplayTransport:
    """A :class:`~syncdp._types.Transport` that plays a recording's browser side.

    Args:
        path: a recording (:mod:`syncdp.transports.recording`; ``.gz`` read compressed).
        speed: ``None`` delivers what the browser sent at once; ``1.0`` keeps the recorded
            timing, ``2.0`` twice as fast.
        match: one of :data:`MATCH_MODES`, or a :data:`MatchFunction`.

    Raises:
        InvalidCommand: a bad argument, or a file that is not a recording.
    """

    def __init__(
        self,
        path: str,
        *,
        speed: Optional[float] = None,
        match: Union[str, MatchFunction] = "params",
    ) -> None:
        check_replay_options(speed, match)
        self.path = str(path)
        self.label = "replay of %s" % self.path
        """Names this wire in logs and in ``ConnectionHandler.ws_url``."""
        self._speed = speed
        self._match = match
        self._records = read_recording(self.path)
        self._commands: List[_Command] = []
        # Where each answer is: the answer to a command sent out of its recorded order is
        # delivered at once, not after the commands recorded before it.
        self._answer_at: Dict[Tuple[Any, Any], int] = {}
        for index, record in enumerate(self._records):
            msg = record.get("msg") or {}
            if record.get("dir") == "send":
                self._commands.append(_Command(len(self._commands) + 1, index, msg))
            elif record.get("dir") == "recv" and "id" in msg:
                self._answer_at.setdefault((msg.get("sessionId"), msg["id"]), index)
        self._early: List[int] = []  # record indices of answers due before their turn
        self._delivered_early: Set[int] = set()
        self._ids = _IdMap()
        self._answer_ids: Dict[Tuple[Optional[str], Any], int] = {}  # recorded -> live id
        self._lock = threading.Condition()
        self._first_unmatched = 0  # index into _commands
        self._deliver = 0  # index into _records
        self._sent = 0
        self._closed: Optional[TransportClosed] = None
        self._last_time: Optional[Tuple[float, float]] = None  # (recorded t, monotonic)

    def __repr__(self) -> str:
        return "<ReplayTransport %s, %d of %d command(s) replayed>" % (
            self.path, sum(c.matched for c in self._commands), len(self._commands))

    # -- matching --------------------------------------------------------------------------

    def _matches(self, command: _Command, live: Dict[str, Any], pending: Dict[Any, Any]) -> bool:
        recorded = command.message
        if recorded.get("method") != live.get("method"):
            return False
        match = self._match
        if callable(match):
            return bool(match(recorded, live))
        ids = None if match == "strict" else self._ids
        if not _same(recorded.get("sessionId"), live.get("sessionId"), ids, pending, "sessionId"):
            return False
        if match == "method":
            return True
        return _same(recorded.get("params", {}), live.get("params", {}), ids, pending, "")

    def _find(self, live: Dict[str, Any]) -> Optional[_Command]:
        commands = self._commands
        end = len(commands)
        if self._match == "strict":
            end = min(end, self._first_unmatched + 1)
        for index in range(self._first_unmatched, end):
            command = commands[index]
            if command.matched:
                continue
            pending: Dict[Any, Any] = {}
            if self._matches(command, live, pending):
                self._ids.bind(pending)
                return command
        return None

    def _mismatch(self, live: Dict[str, Any]) -> ReplayMismatchError:
        method = str(live.get("method"))
        position = self._sent
        left = [c for c in self._commands if not c.matched]
        if not left:
            return ReplayMismatchError(
                method, position,
                "%s (command #%d of the replay) is past the end of the recording %s: its %d "
                "recorded command(s) were all replayed" % (method, position, self.path, len(self._commands)),
            )
        same = [c for c in left if c.message.get("method") == method] or left
        params = live.get("params", {})
        nearest = min(same, key=lambda c: (_diff_count(c.message.get("params", {}), params),
                                           abs(c.position - position)))
        lines: List[str] = []
        if nearest.message.get("method") != method:
            lines.append("  method: recorded %s, sent %s" % (nearest.message.get("method"), method))
        if nearest.message.get("sessionId") != live.get("sessionId"):
            lines.append("  sessionId: recorded %s, sent %s"
                         % (_short(nearest.message.get("sessionId")), _short(live.get("sessionId"))))
        _diff(nearest.message.get("params", {}), params, "", lines)
        diff = "\n".join(lines)
        return ReplayMismatchError(
            method, position,
            "%s (command #%d of the replay) is not in the recording %s; the nearest recorded "
            "command is %s, which differs:\n%s" % (method, position, self.path, nearest.label(), diff or
                                                  "  (nothing: it was recorded in another order)"),
            nearest=nearest.label(), diff=diff,
        )

    # -- the Transport members ---------------------------------------------------------------

    def send(self, message: str) -> None:
        """Match a command against the recording; its answer (and what follows) is then due.

        Raises:
            ReplayMismatchError: the recording holds no such command (here or at all).
            TransportClosed: the replay was closed.
        """
        parsed = json.loads(message)
        live = redact_message(parsed)
        with self._lock:
            if self._closed is not None:
                raise self._closed
            self._sent += 1
            command = self._find(live)
            if command is None:
                raise self._mismatch(live)
            command.matched = True
            key = (command.message.get("sessionId"), command.message.get("id"))
            self._answer_ids[key] = parsed["id"]
            in_order = self._commands[self._first_unmatched] is command
            while (self._first_unmatched < len(self._commands)
                   and self._commands[self._first_unmatched].matched):
                self._first_unmatched += 1
            answer = self._answer_at.get(key)
            if not in_order and answer is not None and answer >= self._due_limit():
                # Sent before commands recorded ahead of it: its answer cannot wait for
                # them (the caller may wait for it before sending those).
                self._early.append(answer)
            self._lock.notify_all()

    def _due_limit(self) -> int:
        """Records before this index may be delivered (every command before them was sent)."""
        if self._first_unmatched < len(self._commands):
            return self._commands[self._first_unmatched].index
        return len(self._records)

    def _wait_time(self, record: Dict[str, Any]) -> float:
        speed = self._speed
        if speed is None or self._last_time is None:
            return 0.0
        recorded_then, live_then = self._last_time
        due = live_then + (float(record.get("t", 0.0)) - recorded_then) / speed
        return due - time.monotonic()

    def _take_early(self) -> List[Union[str, bytes]]:
        messages: List[Union[str, bytes]] = []
        for index in sorted(self._early):
            if index >= self._deliver:  # (else delivered in its turn already)
                self._delivered_early.add(index)
                messages.append(self._live_message(self._records[index].get("msg") or {}))
        self._early = []
        return messages

    def _take(self) -> Tuple[List[Union[str, bytes]], Optional[TransportClosed]]:
        messages: List[Union[str, bytes]] = []
        limit = self._due_limit()
        while self._deliver < limit:
            record = self._records[self._deliver]
            direction = record.get("dir")
            if self._deliver in self._delivered_early:
                self._deliver += 1
                continue
            if direction != "send":
                if self._wait_time(record) > 0:
                    break
                self._last_time = (float(record.get("t", 0.0)), time.monotonic())
            if direction == "close" and record.get("client"):
                break  # this side closed the recorded wire: wait for its own close()
            self._deliver += 1
            if direction == "close":
                reason = record.get("reason")
                return messages, TransportClosed(
                    record.get("code"), reason, "the recorded browser closed the connection")
            if direction == "recv":
                messages.append(self._live_message(record.get("msg") or {}))
        return messages, None

    def _live_message(self, recorded: Dict[str, Any]) -> str:
        message = self._ids.to_live_value(recorded) if self._ids.to_live else dict(recorded)
        if "id" in message:
            live_id = self._answer_ids.pop((recorded.get("sessionId"), recorded["id"]), None)
            if live_id is None:
                logger.debug("replay: an answer to a command never sent: %r", recorded)
            else:
                message["id"] = live_id
        return _encode(message)

    def receive(self) -> List[Union[str, bytes]]:
        """Block for the next recorded messages that are due.

        Raises:
            TransportClosed: the recording's browser closed the connection there, or the
                replay was closed or aborted.
        """
        with self._lock:
            while True:
                if self._closed is not None:
                    raise self._closed
                if self._early:
                    early = self._take_early()
                    if early:
                        return early
                due = self._deliver < self._due_limit()
                if due and not self._records[self._deliver].get("client"):  # (a client close waits)
                    record = self._records[self._deliver]
                    wait = self._wait_time(record) if record.get("dir") != "send" else 0.0
                    if wait <= 0:
                        messages, ended = self._take()
                        if ended is not None:
                            self._closed = ended
                            if not messages:
                                raise ended
                        if messages:
                            return messages
                        continue
                    self._lock.wait(wait)
                    continue
                # Nothing due until the next command is sent (or a close).
                self._lock.wait()

    def close(self) -> None:
        """End the replay: ``receive`` raises from now on."""
        self._end(TransportClosed(1000, "", "the replay was closed"))

    def abort(self) -> None:
        """Wake a blocked ``receive`` at once (it raises); idempotent."""
        self._end(TransportClosed(None, None, "the replay was aborted"))

    def _end(self, error: TransportClosed) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = error
            self._lock.notify_all()

    def ping(self, timeout: float) -> bool:
        """A replay is always there (nothing is sent, nothing recorded is consumed)."""
        return self._closed is None

    # -- the end ---------------------------------------------------------------------------

    @property
    def remaining(self) -> List[str]:
        """The recorded commands never sent (``"#N Method"``), in recorded order."""
        with self._lock:
            return [c.label() for c in self._commands if not c.matched]

    def finish(self) -> None:
        """Check that every recorded command was sent.

        Raises:
            ReplayMismatchError: some were not (the first is named, all are listed).
        """
        with self._lock:
            left = [c for c in self._commands if not c.matched]
        if not left:
            return
        first = left[0]
        names = ", ".join(c.label() for c in left[:10]) + (" ..." if len(left) > 10 else "")
        raise ReplayMismatchError(
            str(first.message.get("method")), first.position,
            "the replay of %s ended with %d recorded command(s) never sent: %s"
            % (self.path, len(left), names),
            nearest=first.label(),
        )
