"""The console of one tab: ``console.*`` messages, uncaught exceptions, and the Runtime
domain they need, enabled by syncdp while something listens (counted, like the network log).
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Deque, Dict, List, Set

from syncdp.exceptions import InvalidCommand, JavaScriptError, SyncdpError
from syncdp.page.core import PageCore
from syncdp.page.evaluation import Evaluator
from syncdp.page.values import js_exception, remote_value

__all__ = ["ConsoleMessage", "Console", "RuntimeSwitch", "CONSOLE_BUFFER"]

logger = logging.getLogger(__name__)

CONSOLE_BUFFER = 1000
"""How many messages ``Tab.console_messages`` keeps (the oldest go first)."""

_VALUE_OF_THIS = "function() { return this; }"


class ConsoleMessage:
    """One ``console.*`` call of the page (``Runtime.consoleAPICalled``).

    Attributes:
        type: ``"log"``, ``"info"``, ``"warning"``, ``"error"``, ``"debug"``, ``"table"``...
            (CDP's names: ``console.warn`` is ``"warning"``).
        text: the arguments as the console shows them, joined by spaces.
        args: the arguments as Python values (objects and arrays converted like
            ``execute_script`` results; one that cannot be is its description, a str).
        location: ``{"url": ..., "line_number": ..., "column_number": ...}`` of the call
            (0-based, as CDP reports them), empty when unknown.
        timestamp: when it was logged, in milliseconds since the epoch.
    """

    __slots__ = ("type", "text", "args", "location", "timestamp")

    def __init__(
        self, type: str, text: str, args: List[Any], location: Dict[str, Any], timestamp: float  # noqa: A002
    ) -> None:
        self.type = type
        self.text = text
        self.args = args
        self.location = location
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return "<ConsoleMessage %s %r>" % (self.type, self.text)


def _text_of(remote: Dict[str, Any], value: Any) -> str:
    if "value" in remote and isinstance(value, str):
        return value
    if "value" in remote or "unserializableValue" in remote:
        return str(remote.get("description", value))
    return str(remote.get("description", remote.get("type", "")))


def _location(params: Dict[str, Any]) -> Dict[str, Any]:
    frames = (params.get("stackTrace") or {}).get("callFrames") or []
    if not frames:
        return {}
    top = frames[0]
    return {
        "url": str(top.get("url", "")),
        "line_number": int(top.get("lineNumber", 0)),
        "column_number": int(top.get("columnNumber", 0)),
    }


def _key(params: Dict[str, Any]) -> Any:
    return (
        params.get("timestamp"),
        params.get("executionContextId"),
        params.get("type"),
        # object ids differ when a message is sent again: what they show does not
        repr([(a.get("type"), a.get("value"), a.get("description")) for a in params.get("args") or []]),
    )


class RuntimeSwitch:
    """``Runtime.enable`` shared by syncdp's helpers of one tab, counted by holder.

    The domain is enabled for the first holder and disabled when the last one lets go,
    unless the user enabled it through the tab themselves. Disabling Runtime keeps the
    remote objects (``Element`` handles) and execution contexts valid, so scripts and
    queries are not disturbed.
    """

    def __init__(self, core: PageCore) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._holders: Set[object] = set()

    def acquire(self, holder: object) -> None:
        """Enable Runtime for ``holder`` (sent only for the first one)."""
        with self._lock:
            first = not self._holders
            self._holders.add(holder)
            if first:
                try:
                    self._core.send("Runtime.enable")
                except BaseException:
                    self._holders.discard(holder)
                    raise

    def release(self, holder: object) -> None:
        """``holder`` no longer needs Runtime; the last one disables it."""
        with self._lock:
            if holder not in self._holders:
                return
            self._holders.discard(holder)
            if self._holders or self._core.closed:
                return
            if self._core.user_enabled("Runtime"):
                logger.debug("Runtime stays enabled: the user enabled it through the tab")
                return
            try:
                self._core.send("Runtime.disable")
            except SyncdpError as exc:
                logger.debug("disabling Runtime: %s", exc)

    @property
    def held(self) -> bool:
        """Whether some helper holds Runtime enabled."""
        return bool(self._holders)


class Console:
    """The console side of a tab (see ``Tab.on_console``)."""

    def __init__(self, core: PageCore, evaluator: Evaluator, runtime: RuntimeSwitch) -> None:
        self._core = core
        self._evaluator = evaluator
        self._runtime = runtime
        self._lock = threading.Lock()
        self._raw: Deque[Dict[str, Any]] = collections.deque(maxlen=CONSOLE_BUFFER)
        # callback id -> the Runtime holder it took
        self._callbacks: Dict[int, object] = {}
        core.connection.hooks.add_reader_hook("Runtime.consoleAPICalled", self._on_message)

    # -- the buffer -------------------------------------------------------------------------

    def _on_message(self, event: Dict[str, Any]) -> None:
        """Reader hook: keep the raw event (converted when read).

        A message sent again by a new ``Runtime.enable`` (the page's earlier messages) is
        kept once: it has the same timestamp, context and arguments as the first time.
        """
        params = event.get("params") or {}
        raw = self._raw
        if raw and params.get("timestamp", 0) <= (raw[-1].get("params") or {}).get("timestamp", 0):
            key = _key(params)
            if any(_key(old.get("params") or {}) == key for old in raw):
                return
        raw.append(event)

    def messages(self) -> List[ConsoleMessage]:
        """See ``Tab.console_messages``."""
        # Chromium sends the messages the page logged before again on a new Runtime.enable
        # (before its answer): they land in the buffer too. The buffer holds Runtime on.
        self._runtime.acquire(self)
        return [self.message_of(event.get("params") or {}) for event in list(self._raw)]

    def clear(self) -> None:
        """Forget the recorded messages (recording goes on)."""
        self._raw.clear()

    # -- callbacks --------------------------------------------------------------------------

    def on_console(self, callback: Callable[[ConsoleMessage], Any]) -> int:
        """See ``Tab.on_console``."""
        if not callable(callback):
            raise InvalidCommand("callback must be callable, got %r" % (callback,))

        def deliver(event: Dict[str, Any]) -> Any:
            return callback(self.message_of(event.get("params") or {}))

        return self._register("Runtime.consoleAPICalled", deliver)

    def on_page_error(self, callback: Callable[[JavaScriptError], Any]) -> int:
        """See ``Tab.on_page_error``."""
        if not callable(callback):
            raise InvalidCommand("callback must be callable, got %r" % (callback,))

        def deliver(event: Dict[str, Any]) -> Any:
            details = (event.get("params") or {}).get("exceptionDetails") or {}
            return callback(js_exception(details))

        return self._register("Runtime.exceptionThrown", deliver)

    def _register(self, event_name: str, deliver: Callable[[Dict[str, Any]], Any]) -> int:
        self._core.check_open("Runtime.enable")
        holder = object()
        self._runtime.acquire(holder)
        callback_id = self._core.connection.register_callback(event_name, deliver)
        with self._lock:
            self._callbacks[callback_id] = holder
        return callback_id

    def remove(self, callback_id: int) -> bool:
        """Remove a console or page-error callback; the last one lets Runtime go."""
        with self._lock:
            holder = self._callbacks.pop(callback_id, None)
        if holder is None:
            return False
        removed = self._core.connection.remove_callback(callback_id)
        self._runtime.release(holder)
        return removed

    def owns(self, callback_id: int) -> bool:
        """Whether ``callback_id`` is a console or page-error callback of this tab."""
        with self._lock:
            return callback_id in self._callbacks

    # -- conversion -------------------------------------------------------------------------

    def message_of(self, params: Dict[str, Any]) -> ConsoleMessage:
        """A :class:`ConsoleMessage` for ``Runtime.consoleAPICalled`` parameters.

        Objects are read by value from the page (a round trip each): call it off the
        reader thread.
        """
        args: List[Any] = []
        texts: List[str] = []
        for remote in params.get("args") or []:
            value = self._value_of(remote)
            args.append(value)
            texts.append(_text_of(remote, value))
        return ConsoleMessage(
            str(params.get("type", "log")),
            " ".join(texts),
            args,
            _location(params),
            float(params.get("timestamp", 0.0)),
        )

    def _value_of(self, remote: Dict[str, Any]) -> Any:
        object_id = remote.get("objectId")
        if object_id is None:
            return remote_value(remote)
        try:
            return self._evaluator.call_function_on(str(object_id), _VALUE_OF_THIS, [], timeout=5)
        except SyncdpError as exc:  # gone with its page, or no Python counterpart
            logger.debug("console argument %s kept as its description: %s", object_id, exc)
            return str(remote.get("description", remote.get("type", "")))
