"""The command path of one tab: every command a tab sends goes through :class:`PageCore`.

It knows whether the tab is closed or crashed, whether an open JavaScript dialog blocks a
command, and enables what the tab relies on once per connection.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from syncdp._checks import check_timeout
from syncdp.connection import Session
from syncdp.connection.endpoint import _Endpoint
from syncdp.exceptions import (
    CommandError,
    ConnectFailedError,
    DialogOpenError,
    ExecutionContextDestroyedError,
    InvalidCommand,
    SyncdpError,
    TargetClosedError,
    TargetCrashedError,
)
from syncdp.page.domains import DomainUsers
from syncdp.page.host import TabHost

__all__ = ["PageCore", "check_name", "BLOCKED_BY_DIALOG", "BLOCKED_BY_BEFOREUNLOAD"]

logger = logging.getLogger(__name__)

# Commands the renderer cannot answer while a JavaScript dialog blocks its main thread.
BLOCKED_BY_DIALOG: Tuple[str, ...] = (
    "Runtime.evaluate",
    "Runtime.callFunctionOn",
    "Runtime.awaitPromise",
    "Page.captureScreenshot",
    "Page.printToPDF",
    "Input.",
    "DOM.scrollIntoViewIfNeeded",
)

# Commands a beforeunload dialog holds until it is answered (the navigation waits for it).
BLOCKED_BY_BEFOREUNLOAD: Tuple[str, ...] = ("Page.navigate", "Page.reload")

# What Chromium answers while the page's navigation request is paused (interception); it
# holds every other command of the page until the navigation goes on.
_ANSWERED_DURING_PAUSED_NAVIGATION = ("Fetch.", "Browser.", "Target.", "Storage.")

# What a crashed tab can still do: navigate or reload (which starts a new renderer), close.
# Anything else would wait for a renderer that is gone until its timeout.
_SURVIVE_CRASH = ("Page.reload", "Page.navigate", "Page.close")


# Chromium's answers to a Runtime command whose JavaScript context a navigation replaced (the
# error code is the generic -32000: the message is all there is to tell them apart).
_CONTEXT_GONE = (
    "Cannot find context with specified id",
    "Execution context was destroyed",
    "Inspected target navigated or closed",
    "Cannot find default execution context",
)


def _typed(exc: CommandError) -> CommandError:
    """``exc`` as :class:`ExecutionContextDestroyedError` when it says the context is gone."""
    if exc.method.startswith("Runtime.") and any(text in exc.message for text in _CONTEXT_GONE):
        return ExecutionContextDestroyedError(exc.method, exc.code, exc.message, exc.data)
    return exc


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a non-empty str; ``InvalidCommand`` naming ``what`` otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidCommand("%s must be a non-empty string, got %r" % (what, value))
    return value


# How each helper that keeps a domain enabled (page.domains) is turned off, for messages.
_HELPER_OFF = {
    "network log": "disable_network_events()",
    "blocked urls": "block_urls([])",
    "offline": "emulate(offline=False)",
    "interception": "unroute() and set_http_credentials(None)",
}


class PageCore:
    """One tab's connection with the checks every command of the tab passes.

    Args:
        host: the browser, as tabs see it.
        target_id: the page target.
        connection: the tab's session or websocket connection.
    """

    def __init__(self, host: TabHost, target_id: str, connection: _Endpoint) -> None:
        self.host = host
        self.target_id = target_id
        self.connection = connection
        # None: dialogs stay open and block commands; "accept"/"dismiss": answered at once.
        self.dialog_policy: Optional[str] = None
        self._lock = threading.Lock()
        self._prepared_for = 0
        # What helpers set on the page that a new connection (a reconnect, a forked child's)
        # does not keep: emulation overrides, blocked URLs. Run after its set-up.
        self._reapply: List[Callable[[], None]] = []
        self._closed = False
        self._crashed = False
        # Domains the user enabled through this tab (send, execute_command, cdp): syncdp's
        # helpers never disable those (enable_network_events/disable_network_events).
        self._user_domains: Set[str] = set()
        self._domains_lock = threading.Lock()
        # syncdp's own helpers that need a domain (network log, routes, blocking...).
        self.domains = DomainUsers(self.send, self.user_enabled)
        # (thread id, URL) while a route handler decides the paused navigation of the page on
        # that thread (syncdp.page.interception): its page commands would wait for itself.
        self.paused_navigation: Optional[Tuple[int, str]] = None
        connection.hooks.add_reader_hook("Inspector.detached", self._on_detached)
        connection.hooks.add_reader_hook("Inspector.targetCrashed", self._on_crashed)
        connection.hooks.add_reader_hook("Inspector.targetReloadedAfterCrash", self._on_new_renderer)
        connection.hooks.add_reader_hook("Page.frameNavigated", self._on_frame_navigated)

    # -- reader hooks: run on the reader thread, never block --------------------------------

    def _on_detached(self, event: Dict[str, Any]) -> None:
        reason = str((event.get("params") or {}).get("reason", "detached"))
        if reason == "target_closed":
            self._closed = True
        self.connection.hooks.fail_pending(
            lambda method: TargetClosedError(method, "the tab went away (%s)" % reason)
        )

    def _on_crashed(self, event: Dict[str, Any]) -> None:
        self._crashed = True
        self.connection.hooks.fail_pending(
            lambda method: TargetCrashedError(method, "the tab's renderer process crashed")
        )

    def _on_new_renderer(self, event: Dict[str, Any]) -> None:
        self._crashed = False  # a navigation or reload started a new renderer

    def _on_frame_navigated(self, event: Dict[str, Any]) -> None:
        frame = (event.get("params") or {}).get("frame") or {}
        if not frame.get("parentId"):
            self._crashed = False  # the main frame shows a new document

    # -- state ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the tab was closed (by ``Tab.close`` or by the browser)."""
        if not self._closed and isinstance(self.connection, Session) and self.connection.detached:
            self._closed = True  # its target went away: the session ended with it
        return self._closed

    def mark_closed(self) -> bool:
        """Mark the tab closed; returns whether it was open until now."""
        was_open, self._closed = not self._closed, True
        return was_open

    @property
    def crashed(self) -> bool:
        """Whether the tab's renderer crashed (a reload or navigation recovers it)."""
        return self._crashed

    def check_open(self, method: str) -> None:
        """``TargetClosedError`` if the browser was stopped or the tab closed."""
        reason = self.host.unusable_reason()
        if reason is not None:
            raise TargetClosedError(method, reason)
        if self.closed:
            raise TargetClosedError(method, "the tab %s is closed" % self.target_id)

    def check_not_crashed(self, method: str) -> None:
        """``TargetCrashedError`` at once for what a crashed renderer would never answer."""
        if self._crashed and not (method in _SURVIVE_CRASH or method.startswith("Target.")):
            raise TargetCrashedError(
                method,
                "the tab's renderer process crashed (not sent); refresh() or go_to() "
                "to recover",
            )

    def check_not_paused_here(self, method: str) -> None:
        """``SyncdpError`` at once for a page command sent by the route handler that holds the
        page's navigation: Chromium would answer it only after the handler decided."""
        paused = self.paused_navigation
        if (
            paused is not None
            and paused[0] == threading.get_ident()
            and not method.startswith(_ANSWERED_DURING_PAUSED_NAVIGATION)
        ):
            raise SyncdpError(
                "%s cannot be answered while the navigation to %s waits for this route "
                "handler: Chromium holds the page's commands until the route is continued, "
                "fulfilled or aborted (decide first; Fetch, Browser, Target and Storage "
                "commands still work)" % (method, paused[1])
            )

    def dialog_error(self, method: str) -> Optional[DialogOpenError]:
        """The ``DialogOpenError`` for ``method`` if an open dialog (no policy) blocks it."""
        if method.startswith(BLOCKED_BY_DIALOG) and self.dialog_policy is None:
            dialog = self.connection.dialog
            if dialog:
                params = dialog.get("params") or {}
                return DialogOpenError(str(params.get("type")), str(params.get("message")), method)
        return None

    def check_no_dialog(self, method: str) -> None:
        """``DialogOpenError`` if an open dialog (no policy) blocks ``method``."""
        error = self.dialog_error(method)
        if error is not None:
            raise error

    def stop_loading(self, what: str) -> None:
        """Stop an unfinished navigation (``what`` names it in the log), best effort and quick.

        For a caller that is raising already (a timeout, Ctrl-C): a navigation left running
        would hold back the tab's next commands until its server answers.
        """
        if self.closed or self.crashed:
            return
        try:
            self.connection.send("Page.stopLoading", timeout=2)
        except (SyncdpError, OSError) as exc:
            logger.debug("stopping the unfinished %s of %s: %s", what, self.target_id, exc)

    # -- domains the user enabled -------------------------------------------------------------

    def user_enabled(self, domain: str) -> bool:
        """Whether the user enabled ``domain`` through this tab (and did not disable it)."""
        with self._domains_lock:
            return domain in self._user_domains

    def _note_user_command(self, method: str) -> None:
        domain, _, verb = method.rpartition(".")
        with self._domains_lock:
            if verb == "enable":
                self._user_domains.add(domain)
            elif verb == "disable":
                self._user_domains.discard(domain)

    def send_for_user(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """:meth:`send` for a command the user sent (``X.enable``/``X.disable`` noted).

        Raises:
            InvalidCommand: ``X.disable`` while syncdp's helpers on this tab still need the
                domain (they would stop working without a word): names them.
        """
        check_name(method, "method")
        domain, _, verb = method.rpartition(".")
        helpers = self.domains.users(domain) if verb == "disable" else set()
        if helpers:
            raise InvalidCommand(
                "%s would stop what this tab still uses it for: %s; end %s first (a helper "
                "never turns off a domain you enabled, nor you one a helper still needs)"
                % (method, ", ".join("%s (%s)" % (h, _HELPER_OFF.get(h, "?")) for h in sorted(helpers)),
                   "it" if len(helpers) == 1 else "them")
            )
        result = self.send(method, params, timeout=timeout)
        self._note_user_command(method)
        return result

    # -- sending ----------------------------------------------------------------------------

    def on_reconnect(self, reapply: Callable[[], None]) -> None:
        """Have ``reapply`` (a helper's settings, sent again) run on every new connection."""
        self._reapply.append(reapply)

    def prepare(self) -> None:
        """Enable what the tab relies on, once per connection (again after a reconnect)."""
        conn = self.connection
        conn.connect()
        if self._prepared_for == conn.connection_count:
            return
        with self._lock:
            if self._prepared_for == conn.connection_count:
                return
            reconnected = self._prepared_for != 0
            commands: List[Any] = [
                ("Page.enable", None),
                ("Page.setLifecycleEventsEnabled", {"enabled": True}),
            ]
            viewport = self.host.viewport()
            if viewport is not None:
                width, height = viewport
                commands.append(
                    (
                        "Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                    )
                )
            # One round trip for the set-up; X.enable kept for replay after a reconnect.
            conn.hooks.send_pipelined(commands, 30)
            self._prepared_for = conn.connection_count
        if reconnected:
            for reapply in list(self._reapply):
                try:
                    reapply()
                except (SyncdpError, OSError) as exc:
                    logger.warning("tab %s: a setting was not restored on the new connection: %s",
                                   self.target_id, exc)

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """``Tab.send``: the checks, the set-up, then the command."""
        check_name(method, "method")
        timeout = check_timeout(timeout)
        self.check_open(method)
        self.check_not_crashed(method)
        self.check_not_paused_here(method)
        try:
            self.prepare()
            self.check_no_dialog(method)
            return self.connection.send(method, params, timeout=timeout)
        except CommandError as exc:
            typed = _typed(exc)
            if typed is exc:
                raise
            raise typed from exc
        except ConnectFailedError as exc:
            # The page's own websocket cannot be opened: the browser tells whether the
            # target is gone (then the tab is closed) or something else failed.
            if self.host.target_gone(self.target_id):
                self._closed = True
                raise TargetClosedError(
                    method, "the tab %s no longer exists" % self.target_id
                ) from exc
            raise

    def execute_command(
        self, command: Dict[str, Any], timeout: Optional[float] = 10
    ) -> Dict[str, Any]:
        """``Tab.execute_command``: a raw command of the user, with the tab's checks."""
        timeout = check_timeout(timeout)
        method = command.get("method") if isinstance(command, dict) else None
        self.check_open(str(method if method is not None else command))
        if isinstance(method, str):
            self.check_not_crashed(method)
        self.prepare()
        response = self.connection.execute_command(command, timeout)
        if isinstance(method, str) and "error" not in response:
            self._note_user_command(method)
        return response
