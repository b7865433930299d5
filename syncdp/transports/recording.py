"""Recording a CDP session: a transport wrapper that writes every message both ways.

``ConnectionHandler(..., record="run.cdp.jsonl")`` and ``Chrome(record=...)`` wrap their wire
in a :class:`RecordingTransport`. Each message becomes one JSON line::

    {"dir": "send", "msg": {...}, "session": "session-1", "t": 0.012345}

``dir`` is ``"send"`` (a command), ``"recv"`` (an answer or an event) or ``"close"`` (the
wire ended: ``code``, ``reason`` and ``client``, whether this side closed it, instead of
``msg``); ``session`` is the flattened session
id or ``null``; ``t`` the monotonic time in seconds since the recording started. The first
line names the format (``{"format": "syncdp-cdp-recording", "version": 1}``). A name ending
in ``.gz`` is written gzip-compressed (with no time stamp in the gzip header).

What is written is never a secret, and never a run-specific id:

Redaction (:func:`redact_message`; on by default, always)
    * the values of headers named in :data:`SENSITIVE_HEADERS` (``Authorization``,
      ``Cookie``, ``Set-Cookie``, ``Proxy-Authorization``) in header dicts, in name/value
      lists (the ``Fetch`` domain's shape) and in raw header text (``headersText``);
    * cookie values: the ``value`` of every cookie-shaped dict (``name`` and ``value`` next
      to ``domain``, ``path``, ``url``, ``expires``...);
    * URL query parameters whose name looks like a credential (:data:`SENSITIVE_QUERY`:
      ``token``, ``access_token``, ``api_key``, ``signature``, ``password``, ``session``...);
    * ``body`` and ``postData`` strings of ``Fetch``/``Network`` messages longer than
      :data:`BODY_LIMIT` characters, kept as ``"[body sha256=... length=N]"`` unless
      ``record_bodies=True``.

    Add a header name (lower case) to :data:`SENSITIVE_HEADERS`, or a function to
    :data:`REDACTION_HOOKS` (or give ``redact=`` to :class:`Recorder`): it receives each
    redacted message (a copy) and returns the message to write.

Stable ids (:data:`VOLATILE_KEYS`)
    Ids the browser makes up anew on every run (target, session, frame, loader, request,
    context and remote object ids) are written as tokens (``"target-1"``, ``"frame-2"``),
    the same token for the same id wherever it appears, so that the same script recorded
    twice gives the same lines apart from times.

Replay a recording with :class:`syncdp.transports.replay.ReplayTransport`
(``Chrome(replay=...)``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import threading
import time
import weakref
from typing import IO, Any, Callable, Dict, List, Optional, Set, Tuple, Union, cast

from syncdp._types import Transport
from syncdp.exceptions import InvalidCommand
from syncdp.transports.base import TransportClosed

__all__ = [
    "BODY_LIMIT",
    "FORMAT",
    "REDACTED",
    "REDACTION_HOOKS",
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY",
    "TIME_KEYS",
    "VOLATILE_KEYS",
    "Recorder",
    "RecordingTransport",
    "open_recording",
    "redact_message",
    "redact_value",
]

logger = logging.getLogger(__name__)

FORMAT = {"format": "syncdp-cdp-recording", "version": 1}
"""The first line of every recording."""

REDACTED = "[redacted]"
BODY_LIMIT = 4096
"""``body``/``postData`` strings of Fetch/Network messages longer than this are hashed."""

SENSITIVE_HEADERS: Set[str] = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
"""Header names (lower case) whose values are never written; add to it to redact more."""

SENSITIVE_QUERY = re.compile(
    r"(?i)^(.*token.*|.*secret.*|.*passw.*|.*signature.*|.*api[_-]?key.*|.*credential.*|auth|"
    r"authorization|key|sig|code|jwt|session|sessionid|sid)$"
)
"""URL query parameter names whose values are never written."""

REDACTION_HOOKS: List[Callable[[Dict[str, Any]], Dict[str, Any]]] = []
"""Functions run on every redacted message before it is written (add yours)."""

VOLATILE_KEYS: Dict[str, str] = {
    "targetId": "target",
    "openerId": "target",
    "sessionId": "session",
    "frameId": "frame",
    "parentFrameId": "frame",
    "loaderId": "loader",
    "requestId": "request",
    "networkId": "request",
    "interceptionId": "interception",
    "browserContextId": "context",
    "objectId": "object",
    "uniqueId": "context",
    "executionContextUniqueId": "context",
}
"""Keys of string ids that differ run to run, and the token prefix each gets."""

TIME_KEYS = frozenset({"timestamp", "wallTime", "t"})
"""Keys whose values are times (they differ run to run and are not ids)."""

# A dict with "name" and "value" and one of these is a cookie (CDP's Cookie/CookieParam).
_COOKIE_FIELDS = frozenset(
    {"domain", "path", "url", "expires", "httpOnly", "secure", "sameSite", "session", "size"}
)
_BODY_KEYS = frozenset({"body", "postData"})
_HEADER_LINE = re.compile(r"(?m)^([A-Za-z0-9-]+):[^\r\n]*")


def _header_line(match: "re.Match[str]") -> str:
    name = match.group(1)
    return "%s: %s" % (name, REDACTED) if name.lower() in SENSITIVE_HEADERS else match.group(0)


def _redact_query(text: str) -> str:
    head, _, query = text.partition("?")
    if "://" not in head:
        return text
    query, hash_mark, fragment = query.partition("#")
    fields = query.split("&")
    changed = False
    for index, field in enumerate(fields):
        name, equals, value = field.partition("=")
        if equals and value and value != REDACTED and SENSITIVE_QUERY.match(name):
            fields[index] = "%s=%s" % (name, REDACTED)
            changed = True
    if not changed:
        return text
    return "%s?%s%s%s" % (head, "&".join(fields), hash_mark, fragment)


def _redact_string(text: str, key: Optional[str], bodies: bool, record_bodies: bool) -> str:
    if key == "headersText":
        return _HEADER_LINE.sub(_header_line, text)
    if bodies and key in _BODY_KEYS and not record_bodies and len(text) > BODY_LIMIT:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return "[body sha256=%s length=%d]" % (digest, len(text))
    if "?" in text and "://" in text and len(text) < 65536:
        return _redact_query(text)
    return text


def redact_value(
    value: Any, key: Optional[str] = None, *, bodies: bool = False, record_bodies: bool = False
) -> Any:
    """A copy of the JSON value ``value`` with its secrets replaced (see the module doc).

    Args:
        value: a CDP message or part of one (never modified).
        key: the dict key ``value`` was found under (``"headersText"`` is raw header text).
        bodies: ``value`` belongs to a ``Fetch``/``Network`` message (its bodies count).
        record_bodies: keep long bodies instead of their hash.
    """
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for name, item in value.items():
            if isinstance(item, str) and isinstance(name, str) and name.lower() in SENSITIVE_HEADERS:
                out[name] = REDACTED
            else:
                out[name] = redact_value(item, name, bodies=bodies, record_bodies=record_bodies)
        named = value.get("name")
        if "value" in value and isinstance(named, str) and (
            named.lower() in SENSITIVE_HEADERS or not _COOKIE_FIELDS.isdisjoint(value)
        ):
            out["value"] = REDACTED
        return out
    if isinstance(value, list):
        return [redact_value(item, bodies=bodies, record_bodies=record_bodies) for item in value]
    if isinstance(value, str):
        return _redact_string(value, key, bodies, record_bodies)
    return value


def redact_message(
    message: Dict[str, Any], method: Optional[str] = None, *, record_bodies: bool = False
) -> Dict[str, Any]:
    """A redacted copy of a whole CDP message, then :data:`REDACTION_HOOKS` applied.

    Args:
        message: a command, answer or event (never modified).
        method: the method an answer answers (answers do not carry it); bodies of
            ``Fetch``/``Network`` answers are hashed by it.
        record_bodies: keep long bodies instead of their hash.
    """
    name = message.get("method") or method or ""
    bodies = name.startswith(("Fetch.", "Network."))
    redacted: Dict[str, Any] = redact_value(message, bodies=bodies, record_bodies=record_bodies)
    for hook in REDACTION_HOOKS:
        redacted = hook(redacted)
    return redacted


class _Tokens:
    """Run-specific string ids -> stable tokens (``target-1``), the same id the same token."""

    def __init__(self) -> None:
        self._tokens: Dict[str, str] = {}
        self._counts: Dict[str, int] = {}

    def _token(self, value: str, prefix: str) -> str:
        token = self._tokens.get(value)
        if token is None:
            count = self._counts.get(prefix, 0) + 1
            self._counts[prefix] = count
            token = self._tokens[value] = "%s-%d" % (prefix, count)
        return token

    def apply(self, value: Any, key: Optional[str] = None) -> Any:
        """``value`` with every known or volatile id replaced (in place for containers)."""
        if isinstance(value, dict):
            for name, item in value.items():
                value[name] = self.apply(item, name)
            return value
        if isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = self.apply(item)
            return value
        if isinstance(value, str):
            prefix = VOLATILE_KEYS.get(key or "")
            if prefix is not None and value:
                return self._token(value, prefix)
            return self._tokens.get(value, value)
        return value


def open_recording(path: str, mode: str) -> IO[bytes]:
    """Open a recording file for ``"rb"``, ``"wb"`` or ``"ab"``; gzip when it ends in ``.gz``."""
    raw = open(path, mode)
    if not path.endswith(".gz"):
        return raw
    # No file name and no time stamp in the header: the same lines give the same bytes.
    return cast(IO[bytes], _GzipOwning(raw, mode))


class _GzipOwning(gzip.GzipFile):
    """A GzipFile that closes the file it wraps (and writes a reproducible header)."""

    def __init__(self, raw: IO[bytes], mode: str) -> None:
        super().__init__(filename="", mode=mode, fileobj=raw, mtime=0)
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class Recorder:
    """Writes one recording file: shared by every transport a connection opens on it.

    Thread-safe: commands are written from the sending threads, answers and events from
    the reader; one lock keeps the lines whole and in the order they were seen.

    Args:
        path: the file (``.gz``: compressed). Created or truncated when the first
            connection opens; a later connection (after ``close()``) appends.
        record_bodies: keep ``Fetch``/``Network`` bodies longer than :data:`BODY_LIMIT`.
        redact: one more redaction hook for this recording (see :data:`REDACTION_HOOKS`).

    Raises:
        InvalidCommand: ``path`` is not a path, or ``redact`` not callable.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        record_bodies: bool = False,
        redact: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InvalidCommand("record must be a file path, got %r" % (path,))
        if not isinstance(record_bodies, bool):
            raise InvalidCommand("record_bodies must be True or False, got %r" % (record_bodies,))
        if redact is not None and not callable(redact):
            raise InvalidCommand("redact must be a function of a message, got %r" % (redact,))
        self.path = os.fspath(path)
        self.record_bodies = record_bodies
        self._redact = redact
        self._lock = threading.Lock()
        self._file: Optional[IO[bytes]] = None
        self._opened = False
        self._start = 0.0
        self._tokens = _Tokens()
        self._methods: Dict[Tuple[Optional[str], int], str] = {}
        self.count = 0
        """How many messages were written."""
        _RECORDERS.add(self)

    def forked_in_child(self) -> None:
        """In a forked child (``os.register_at_fork``): let go of the parent's file and record
        this process's own messages into a file of its own.

        The inherited file object shares the parent's file and holds a copy of its unwritten
        buffer: flushed or closed here, that copy (and a gzip trailer) would land in the
        parent's recording. Its descriptor is pointed at ``/dev/null`` first, in this process
        only. The child's recording is ``<name>.pid<N><extensions>`` beside the parent's.
        """
        self._lock = threading.Lock()  # a thread of the parent may have held it
        handle, self._file = self._file, None
        if handle is not None:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, handle.fileno())
                finally:
                    os.close(devnull)
            except (OSError, ValueError) as exc:  # pragma: no cover - a closed handle
                logger.debug("recording %s: could not detach the inherited file: %s", self.path, exc)
        parent_path = self.path
        directory, name = os.path.split(parent_path)
        stem, dot, extensions = name.partition(".")
        self.path = os.path.join(directory, "%s.pid%d%s%s" % (stem, os.getpid(), dot, extensions))
        self._opened = False
        self._tokens = _Tokens()
        self._methods = {}
        self.count = 0
        logger.warning(
            "forked process %d records into %s (the recording %s belongs to the parent)",
            os.getpid(), self.path, parent_path,
        )

    def __repr__(self) -> str:
        return "<Recorder %s, %d message(s)>" % (self.path, self.count)

    def wrap(self, transport: Transport) -> "RecordingTransport":
        """Start (or continue) the file and return ``transport`` recorded into it."""
        with self._lock:
            if self._file is None:
                mode = "ab" if self._opened else "wb"
                directory = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(directory, exist_ok=True)
                self._file = open_recording(self.path, mode)
                if not self._opened:
                    self._start = time.monotonic()
                    self._file.write(_line(FORMAT))
                self._opened = True
        if callable(getattr(transport, "ping", None)):
            return _PingingRecordingTransport(transport, self)
        return RecordingTransport(transport, self)

    def _write(self, direction: str, text: Union[str, bytes]) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            logger.debug("not recording a message that is not JSON: %r", text[:200])
            return
        if not isinstance(message, dict):
            return
        session = message.get("sessionId")
        msg_id = message.get("id")
        key = (session, msg_id) if isinstance(msg_id, int) else None
        with self._lock:
            if self._file is None:
                return
            method = None
            if key is not None:
                if direction == "send":
                    self._methods[key] = str(message.get("method"))
                else:
                    method = self._methods.pop(key, None)
            redacted = redact_message(message, method, record_bodies=self.record_bodies)
            if self._redact is not None:
                redacted = self._redact(redacted)
            redacted = self._tokens.apply(redacted)
            record = {
                "dir": direction,
                "session": redacted.get("sessionId"),
                "t": round(time.monotonic() - self._start, 6),
                "msg": redacted,
            }
            self._file.write(_line(record))
            self.count += 1

    def sent(self, text: str) -> None:
        """Write a command about to be sent."""
        self._write("send", text)

    def received(self, text: Union[str, bytes]) -> None:
        """Write an answer or event just received."""
        self._write("recv", text)

    def ended(self, code: Optional[int], reason: Optional[str], by_client: bool = False) -> None:
        """Write that the wire ended: the peer closed, the connection dropped, or (``by_client``)
        this side closed it (a replay then waits for its own close instead)."""
        with self._lock:
            if self._file is not None:
                record = {"dir": "close", "code": code, "reason": reason, "client": by_client,
                          "t": round(time.monotonic() - self._start, 6)}
                self._file.write(_line(record))

    def close(self) -> None:
        """Finish the file (idempotent); a later connection appends to it."""
        with self._lock:
            handle, self._file = self._file, None
        if handle is not None:
            handle.close()


_RECORDERS: "weakref.WeakSet[Recorder]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for recorder in list(_RECORDERS):
        recorder.forked_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _line(record: Dict[str, Any]) -> bytes:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


class RecordingTransport:
    """A :class:`~syncdp._types.Transport` that writes every message into a :class:`Recorder`.

    ``send`` from any thread, ``receive`` from the reader; the messages themselves pass
    through unchanged (only what is written is redacted).
    """

    def __init__(self, inner: Transport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self._closing = False  # close() was called: the end that follows is ours
        label = getattr(inner, "label", None)
        if label is not None:
            self.label = label  # names the wire in logs, as the inner one's does

    def send(self, message: str) -> None:
        """Write the command, then send it (written first: its answer is written after it)."""
        self.recorder.sent(message)
        self.inner.send(message)

    def receive(self) -> List[Union[str, bytes]]:
        """The inner transport's next messages, each written.

        Raises:
            TransportClosed: as the inner transport (the end is written too).
        """
        try:
            messages = self.inner.receive()
        except TransportClosed as exc:
            self.recorder.ended(exc.code, exc.reason, self._closing)
            raise
        for message in messages:
            self.recorder.received(message)
        return messages

    def close(self) -> None:
        """Close the inner transport."""
        self._closing = True
        self.inner.close()

    def abort(self) -> None:
        """Abort the inner transport."""
        self._closing = True
        self.inner.abort()


class _PingingRecordingTransport(RecordingTransport):
    def ping(self, timeout: float) -> bool:
        """The inner transport's ping (below CDP: nothing to record)."""
        return bool(self.inner.ping(timeout))  # type: ignore[attr-defined]


def read_recording(path: str) -> List[Dict[str, Any]]:
    """The records of a recording file (the format line left out).

    Raises:
        InvalidCommand: the file is not a syncdp recording (the message says why).
    """
    try:
        with open_recording(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise InvalidCommand("cannot read the recording %s: %s" % (path, exc)) from exc
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    try:
        # One parse for the whole file: many times faster than one json.loads per line.
        records = json.loads("[%s]" % ",".join(lines))
    except ValueError:
        records = [_parse_line(path, number, line) for number, line in enumerate(lines, 1)]
    if not records or not isinstance(records[0], dict) or records[0].get("format") != FORMAT["format"]:
        raise InvalidCommand("%s is not a syncdp CDP recording (no format line)" % path)
    return [r for r in records[1:] if not (isinstance(r, dict) and "format" in r)]


def _parse_line(path: str, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise InvalidCommand("%s line %d is not JSON: %s" % (path, number, exc)) from exc
