"""The last CDP messages of a test, redacted, for the failure artifacts of the pytest plugin.

:class:`CdpMessageLog` keeps the newest ``limit`` messages (commands sent, their answers, and
events received) in a ring buffer. Every message is redacted when it is recorded, so no
secret is ever held, written or shown:

* header values named in :data:`SENSITIVE_HEADERS` (``Authorization``, ``Cookie``,
  ``Set-Cookie``, ``Proxy-Authorization``), in header dicts (``{"Cookie": "..."}``), in
  name/value lists (``[{"name": "Cookie", "value": "..."}]``, the ``Fetch`` domain's shape)
  and in raw header text (``headersText``);
* cookie values: the ``value`` of every dict shaped like a cookie (a ``name`` and a
  ``value`` next to a ``domain``, ``path``, ``url``, ``expires``... field), as in
  ``Network.getCookies``, ``Storage.setCookies`` or ``associatedCookies``;
* URL query parameters that look like credentials (``token``, ``api_key``, ``sig``...);
* strings longer than :data:`STRING_LIMIT` characters (screenshot data, page sources) are
  cut, with their length kept.

The rules are the recordings' (:mod:`syncdp.transports.recording`), shared.

Add a header name to :data:`SENSITIVE_HEADERS` (lower case) to redact it too.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional

from syncdp.transports.recording import REDACTED, SENSITIVE_HEADERS, redact_value

__all__ = ["CdpMessageLog", "redact", "SENSITIVE_HEADERS", "REDACTED", "STRING_LIMIT"]

STRING_LIMIT = 2000


def _cut(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _cut(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cut(item) for item in value]
    if isinstance(value, str) and len(value) > STRING_LIMIT:
        return "%s... [%d chars]" % (value[:STRING_LIMIT], len(value))
    return value


def redact(value: Any, key: Optional[str] = None) -> Any:
    """A copy of the JSON value ``value`` with secrets replaced by ``"[redacted]"``.

    The recordings' redaction (:func:`syncdp.transports.recording.redact_value`: headers,
    cookies, credential query parameters), then strings cut at :data:`STRING_LIMIT`.

    Args:
        value: a CDP message or part of one (never modified).
        key: the dict key ``value`` was found under (``"headersText"`` is raw header text).
    """
    return _cut(redact_value(value, key))


class CdpMessageLog:
    """The newest ``limit`` CDP messages of some tabs, redacted, in the order they were seen.

    Thread-safe: commands are recorded on the caller's thread, events on the dispatcher's.

    Args:
        limit: how many messages to keep (older ones are dropped).
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._entries: Deque[Dict[str, Any]] = collections.deque(maxlen=limit)
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._seq = 0
        self.total = 0
        """How many messages were recorded in all (kept or dropped since)."""

    def _add(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self.total += 1
            entry["seq"] = self._seq
            entry["time"] = round(time.monotonic() - self._start, 6)
            self._entries.append(entry)

    def command(self, target_id: str, method: str, params: Optional[Dict[str, Any]]) -> None:
        """Record a command sent to ``target_id``."""
        self._add({"direction": "sent", "target": target_id, "method": method,
                   "params": redact(params or {})})

    def answer(self, target_id: str, method: str, result: Any) -> None:
        """Record the result of a command."""
        self._add({"direction": "received", "target": target_id, "method": method,
                   "result": redact(result)})

    def failure(self, target_id: str, method: str, error: BaseException) -> None:
        """Record a command that failed (a CDP error, a timeout, a closed tab...)."""
        self._add({"direction": "received", "target": target_id, "method": method,
                   "error": redact("%s: %s" % (type(error).__name__, error))})

    def event(self, target_id: str, message: Dict[str, Any]) -> None:
        """Record an event received from ``target_id`` (the whole event message)."""
        self._add({"direction": "received", "target": target_id,
                   "method": str(message.get("method")), "params": redact(message.get("params") or {})})

    def entries(self) -> List[Dict[str, Any]]:
        """The kept messages, oldest first (copies of the records)."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def write(self, path: Path) -> int:
        """Write the kept messages to ``path`` as JSON lines; returns how many."""
        entries = self.entries()
        with open(path, "w", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, sort_keys=True, default=repr))
                fh.write("\n")
        return len(entries)
