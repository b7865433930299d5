"""Request interception of one tab: ``route``/``unroute`` (Playwright's names) and HTTP
credentials, on the ``Fetch`` domain.

A paused request (``Fetch.requestPaused``) is handed, on the dispatcher thread, to the handler
of the newest route whose pattern matches its URL, as a :class:`Route`. The handler decides
exactly once: :meth:`Route.continue_`, :meth:`Route.fulfill` or :meth:`Route.abort`. A handler
that returns without deciding continues the request (with a warning); one that raises aborts it
(the error is logged). A request no route matches is continued at once.

The dispatcher never completes futures, so a handler may send commands and even use the tab;
a ``go_to`` on another thread that waits for an intercepted document is answered as soon as
the handler decides.
"""

from __future__ import annotations

import base64
import collections
import logging
import re
import threading
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Pattern, Tuple, Union

from syncdp.connection import ATTACHED_EVENT
from syncdp.exceptions import CommandError, InvalidCommand, SyncdpError
from syncdp.page.core import PageCore

__all__ = ["Request", "Route", "Interceptor", "UrlPattern", "RouteHandler", "ERROR_CODES"]

logger = logging.getLogger(__name__)

UrlPattern = Union[str, Pattern[str]]
_AUTH_MEMORY = 1000  # request ids whose challenge was answered, kept to spot a refusal
RouteHandler = Callable[["Route"], Any]
Send = Callable[..., Dict[str, Any]]

# Playwright's error codes for ``route.abort`` -> CDP's Network.ErrorReason.
ERROR_CODES: Dict[str, str] = {
    name.lower(): name
    for name in (
        "Failed", "Aborted", "TimedOut", "AccessDenied", "ConnectionClosed", "ConnectionReset",
        "ConnectionRefused", "ConnectionAborted", "ConnectionFailed", "NameNotResolved",
        "InternetDisconnected", "AddressUnreachable", "BlockedByClient", "BlockedByResponse",
    )
}


def _glob_regex(glob: str) -> Pattern[str]:
    """The regex of a ``Fetch.enable`` URL pattern: ``*`` any run of characters, ``?`` any
    one character, ``\\`` escapes the next one; the whole URL must match."""
    parts: List[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "\\" and i + 1 < len(glob):
            parts.append(re.escape(glob[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _check_pattern(url_pattern: Any) -> UrlPattern:
    if isinstance(url_pattern, str):
        if not url_pattern:
            raise InvalidCommand("url_pattern must be a non-empty glob or a compiled regex, got ''")
        return url_pattern
    if isinstance(url_pattern, re.Pattern) and isinstance(url_pattern.pattern, str):
        return url_pattern
    raise InvalidCommand(
        "url_pattern must be a glob string or a compiled str regex (re.compile), got %r"
        % (url_pattern,)
    )


def _header_entries(headers: Any, what: str) -> List[Dict[str, str]]:
    if not isinstance(headers, Mapping):
        raise InvalidCommand("%s must be a dict of header names to values, got %r" % (what, headers))
    entries = []
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidCommand(
                "%s must map non-empty str names to str values, got %r: %r" % (what, name, value)
            )
        entries.append({"name": name, "value": value})
    return entries


def _base64(data: Any, what: str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidCommand("%s must be str or bytes, got %s" % (what, type(data).__name__))
    return base64.b64encode(bytes(data)).decode("ascii")


class _RouteEntry:
    """One ``route()`` registration."""

    __slots__ = ("pattern", "regex", "handler")

    def __init__(self, pattern: UrlPattern, handler: RouteHandler) -> None:
        self.pattern = pattern
        self.regex = _glob_regex(pattern) if isinstance(pattern, str) else pattern
        self.handler = handler

    def matches(self, url: str) -> bool:
        if isinstance(self.pattern, str):
            return self.regex.match(url) is not None
        return self.regex.search(url) is not None

    def same_pattern(self, pattern: UrlPattern) -> bool:
        if isinstance(self.pattern, str) or isinstance(pattern, str):
            return self.pattern == pattern
        return (self.pattern.pattern, self.pattern.flags) == (pattern.pattern, pattern.flags)


class Request:
    """The request a :class:`Route` holds (Playwright's ``Request``, read-only).

    Attributes:
        url: the full URL (with its fragment, if any).
        method: ``"GET"``, ``"POST"``...
        headers: the request headers.
        post_data: the body of the request as text, or ``None``.
        resource_type: lower case, like Playwright's: ``"document"``, ``"script"``,
            ``"xhr"``, ``"fetch"``, ``"image"``...
        frame_id: the frame that made the request.
    """

    def __init__(self, params: Dict[str, Any]) -> None:
        request = params.get("request") or {}
        self.url = str(request.get("url", "")) + str(request.get("urlFragment") or "")
        self.method = str(request.get("method", "GET"))
        self.headers: Dict[str, str] = {
            str(k): str(v) for k, v in (request.get("headers") or {}).items()
        }
        self.post_data: Optional[str] = self._post_data(request)
        self.resource_type = str(params.get("resourceType", "Other")).lower()
        self.frame_id = str(params.get("frameId", ""))

    @staticmethod
    def _post_data(request: Dict[str, Any]) -> Optional[str]:
        if "postData" in request:
            return str(request["postData"])
        entries = request.get("postDataEntries")
        if not entries:
            return None
        data = b"".join(base64.b64decode(e.get("bytes", "")) for e in entries)
        return data.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return "<Request %s %s (%s)>" % (self.method, self.url, self.resource_type)


class Route:
    """A paused request, handed to a ``tab.route`` handler: decide its fate exactly once.

    Thread-safe: the decision is taken under a lock; a second one raises
    :class:`~syncdp.exceptions.SyncdpError` and sends nothing.
    """

    def __init__(self, send: Send, params: Dict[str, Any]) -> None:
        self._send = send
        self._request_id = str(params.get("requestId", ""))
        self.request = Request(params)
        self._lock = threading.Lock()
        self._decision: Optional[str] = None

    def __repr__(self) -> str:
        return "<Route %s %s%s>" % (
            self.request.method, self.request.url,
            " (%s)" % self._decision if self._decision else "",
        )

    @property
    def handled(self) -> bool:
        """Whether the request was continued, fulfilled or aborted already."""
        return self._decision is not None

    def _decide(self, decision: str, method: str, params: Dict[str, Any]) -> None:
        with self._lock:
            if self._decision is not None:
                raise SyncdpError(
                    "cannot %s %s %s: the route was already %s (a route is decided once)"
                    % (decision, self.request.method, self.request.url, self._decision)
                )
            self._decision = {"continue": "continued", "fulfill": "fulfilled"}.get(
                decision, "aborted"
            )
        params["requestId"] = self._request_id
        self._send(method, params)

    def continue_(
        self,
        *,
        url: Optional[str] = None,
        method: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        post_data: Union[str, bytes, None] = None,
    ) -> None:
        """Let the request go on, optionally changed (the page does not see the changes).

        Args:
            url: another URL, same scheme (the page still sees the original one).
            method: another method, e.g. ``"POST"``.
            headers: replace the request headers (all of them).
            post_data: replace the body.

        Raises:
            InvalidCommand: a bad argument (named); nothing is sent.
            SyncdpError: the route was decided already.
            CommandError: Chromium refused (e.g. a URL of another scheme).
        """
        params: Dict[str, Any] = {}
        for name, value in (("url", url), ("method", method)):
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise InvalidCommand("%s must be a non-empty string, got %r" % (name, value))
                params[name] = value
        if headers is not None:
            params["headers"] = _header_entries(headers, "headers")
        if post_data is not None:
            params["postData"] = _base64(post_data, "post_data")
        self._decide("continue", "Fetch.continueRequest", params)

    def fulfill(
        self,
        *,
        status: int = 200,
        headers: Optional[Mapping[str, str]] = None,
        body: Union[str, bytes, None] = None,
        content_type: Optional[str] = None,
    ) -> None:
        """Answer the request with this response; the server is never asked.

        Args:
            status: the HTTP status code (100-599).
            headers: response headers.
            body: the response body (``str`` is sent as UTF-8).
            content_type: the ``Content-Type`` header (default: ``text/html; charset=utf-8``
                for a ``str`` body without one in ``headers``).

        Raises:
            InvalidCommand: a bad argument (named); nothing is sent.
            SyncdpError: the route was decided already.
        """
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise InvalidCommand("status must be an HTTP status code (100-599), got %r" % (status,))
        entries = _header_entries(headers if headers is not None else {}, "headers")
        if content_type is not None:
            if not isinstance(content_type, str) or not content_type:
                raise InvalidCommand("content_type must be a non-empty string, got %r" % (content_type,))
            entries = [e for e in entries if e["name"].lower() != "content-type"]
            entries.append({"name": "Content-Type", "value": content_type})
        elif isinstance(body, str) and not any(e["name"].lower() == "content-type" for e in entries):
            entries.append({"name": "Content-Type", "value": "text/html; charset=utf-8"})
        params: Dict[str, Any] = {"responseCode": status, "responseHeaders": entries}
        if body is not None:
            params["body"] = _base64(body, "body")
        self._decide("fulfill", "Fetch.fulfillRequest", params)

    def abort(self, error_code: str = "failed") -> None:
        """Fail the request as a network error would.

        Args:
            error_code: Playwright's codes: ``"failed"``, ``"aborted"``, ``"timedout"``,
                ``"accessdenied"``, ``"connectionrefused"``, ``"blockedbyclient"``... (see
                :data:`ERROR_CODES`).

        Raises:
            InvalidCommand: an unknown ``error_code``; nothing is sent.
            SyncdpError: the route was decided already.
        """
        reason = ERROR_CODES.get(error_code.lower()) if isinstance(error_code, str) else None
        if reason is None:
            raise InvalidCommand(
                "error_code must be one of %s, got %r" % (sorted(ERROR_CODES), error_code)
            )
        self._decide("abort", "Fetch.failRequest", {"errorReason": reason})


class Interceptor:
    """The ``Fetch`` side of a tab: routes and HTTP credentials (see :meth:`Tab.route`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core
        self._lock = threading.RLock()
        self._routes: List[_RouteEntry] = []
        self._credentials: Optional[Tuple[str, str]] = None
        self._listening: List[int] = []  # callback ids while routes or credentials exist
        # Out-of-process iframes (sessions) that have our callbacks already.
        self._frames_seen: "weakref.WeakSet[Any]" = weakref.WeakSet()
        # Requests whose auth challenge was answered once: a second challenge means the
        # credentials were refused, and answering again would loop.
        self._answered_auth: "collections.OrderedDict[str, bool]" = collections.OrderedDict()

    # -- configuration (any thread) ------------------------------------------------------------

    def route(self, url_pattern: Any, handler: Any) -> None:
        """See :meth:`Tab.route`."""
        pattern = _check_pattern(url_pattern)
        if not callable(handler):
            raise InvalidCommand("handler must be callable (it receives a Route), got %r" % (handler,))
        self._core.check_open("Tab.route")
        with self._lock:
            self._routes.append(_RouteEntry(pattern, handler))
            self._apply()

    def unroute(self, url_pattern: Any, handler: Optional[RouteHandler] = None) -> int:
        """See :meth:`Tab.unroute`."""
        pattern = _check_pattern(url_pattern)
        if handler is not None and not callable(handler):
            raise InvalidCommand("handler must be callable or None, got %r" % (handler,))
        with self._lock:
            kept = [
                entry for entry in self._routes
                if not (entry.same_pattern(pattern) and handler in (None, entry.handler))
            ]
            removed = len(self._routes) - len(kept)
            self._routes = kept
            if removed:
                self._apply()
            return removed

    def set_credentials(self, credentials: Optional[Tuple[str, str]]) -> None:
        """See :meth:`Tab.set_http_credentials`."""
        self._core.check_open("Tab.set_http_credentials")
        with self._lock:
            self._credentials = credentials
            self._answered_auth.clear()
            self._apply()

    def _fetch_patterns(self) -> List[Dict[str, str]]:
        # A regex has no Fetch form, and credentials need every request paused (Chromium
        # refuses handleAuthRequests with a pattern list that is empty): "*" then, and the
        # requests no route wants are continued at once.
        if self._credentials is not None or any(not isinstance(e.pattern, str) for e in self._routes):
            return [{"urlPattern": "*"}]
        seen: List[str] = []
        for entry in self._routes:
            if isinstance(entry.pattern, str) and entry.pattern not in seen:
                seen.append(entry.pattern)
        return [{"urlPattern": pattern} for pattern in seen]

    def _fetch_params(self) -> Dict[str, Any]:
        params: Dict[str, Any] = {"patterns": self._fetch_patterns()}
        if self._credentials is not None:
            params["handleAuthRequests"] = True
        return params

    def _apply(self) -> None:
        """Send the Fetch set-up that the routes and credentials need now (lock held)."""
        domains = self._core.domains
        if not self._routes and self._credentials is None:
            domains.release("Fetch", "interception")
            self._apply_to_frames(None)
            self._unlisten()
            return
        self._listen()
        params = self._fetch_params()
        domains.acquire("Fetch", "interception", params)
        self._apply_to_frames(params)

    def _listen(self) -> None:
        if self._listening:
            return
        connection = self._core.connection
        self._listening = [
            connection.register_callback("Fetch.requestPaused", self._on_request_paused),
            connection.register_callback("Fetch.authRequired", self._on_auth_required),
            # Out-of-process iframes (after Tab.follow_children) fetch through their own session.
            connection.register_callback(ATTACHED_EVENT, self._on_attached),
        ]

    def _unlisten(self) -> None:
        """No route and no credentials left: stop answering Fetch events, which from now on
        belong to whoever else enabled Fetch (the user's own interception)."""
        ids, self._listening = self._listening, []
        for callback_id in ids:
            self._core.connection.remove_callback(callback_id)

    # -- out-of-process iframes ----------------------------------------------------------------

    def _frames(self) -> List[Any]:
        return [s for s in self._core.connection.child_sessions if s.target_type == "iframe"]

    def _apply_to_frames(self, params: Optional[Dict[str, Any]]) -> None:
        """Send the Fetch set-up (``None``: off) to every out-of-process iframe (lock held)."""
        for frame in self._frames():
            self._set_up_frame(frame, params)

    def _set_up_frame(self, frame: Any, params: Optional[Dict[str, Any]]) -> None:
        try:
            if frame not in self._frames_seen:
                self._frames_seen.add(frame)
                frame.register_callback(
                    "Fetch.requestPaused", lambda event: self._on_request_paused(event, frame.send)
                )
                frame.register_callback(
                    "Fetch.authRequired", lambda event: self._on_auth_required(event, frame.send)
                )
            if params is None:
                frame.send("Fetch.disable")
            else:
                frame.send("Fetch.enable", params)
        except SyncdpError as exc:  # the frame went away meanwhile
            logger.debug("interception in %r: %s", frame, exc)

    def _on_attached(self, event: Dict[str, Any]) -> None:
        frame = (event.get("params") or {}).get("session")
        if frame is None or getattr(frame, "target_type", None) != "iframe":
            return
        with self._lock:
            if self._routes or self._credentials is not None:
                self._set_up_frame(frame, self._fetch_params())

    # -- events (the dispatcher thread) ----------------------------------------------------------

    def _handler_for(self, url: str) -> Optional[RouteHandler]:
        with self._lock:
            routes = list(self._routes)
        for entry in reversed(routes):  # the newest route wins, as in Playwright
            if entry.matches(url):
                return entry.handler
        return None

    def _on_request_paused(self, event: Dict[str, Any], send: Optional[Send] = None) -> None:
        params = event.get("params") or {}
        route = Route(send or self._core.send, params)
        if "responseStatusCode" in params or "responseErrorReason" in params:
            handler = None  # the response stage: not something syncdp asked for
        else:
            handler = self._handler_for(route.request.url)
        if handler is None:
            self._settle(route, "continue")
            return
        core = self._core
        # The page's own navigation: Chromium holds the page's other commands until it goes
        # on, so those the handler sends fail at once instead of waiting for themselves.
        holds_page = (
            send is None
            and route.request.resource_type == "document"
            and route.request.frame_id == core.target_id
        )
        if holds_page:
            core.paused_navigation = (threading.get_ident(), route.request.url)
        try:
            handler(route)
        except Exception:
            logger.exception(
                "route handler %r raised for %s %s: the request is aborted",
                handler, route.request.method, route.request.url,
            )
            self._settle(route, "abort")
            return
        finally:
            if holds_page:
                core.paused_navigation = None
        if not route.handled:
            logger.warning(
                "route handler %r returned without continue_(), fulfill() or abort() for %s %s:"
                " the request is continued", handler, route.request.method, route.request.url,
            )
            self._settle(route, "continue")

    @staticmethod
    def _settle(route: Route, decision: str) -> None:
        """Continue or abort a request on syncdp's behalf (the tab may be gone meanwhile)."""
        try:
            if decision == "continue":
                route.continue_()
            else:
                route.abort("failed")
        except SyncdpError as exc:
            message = exc.message if isinstance(exc, CommandError) else str(exc)
            logger.debug("could not %s %s: %s", decision, route.request.url, message)

    def _on_auth_required(self, event: Dict[str, Any], send: Optional[Send] = None) -> None:
        params = event.get("params") or {}
        request_id = str(params.get("requestId", ""))
        with self._lock:
            credentials = self._credentials
            repeated = self._answered_auth.pop(request_id, False)
            if credentials is not None and not repeated:
                self._answered_auth[request_id] = True
                while len(self._answered_auth) > _AUTH_MEMORY:
                    self._answered_auth.popitem(last=False)
        if credentials is None:
            answer: Dict[str, Any] = {"response": "Default"}
        elif repeated:
            logger.warning(
                "the HTTP credentials were refused by %s: the request goes on without them",
                (params.get("authChallenge") or {}).get("origin", "the server"),
            )
            answer = {"response": "CancelAuth"}
        else:
            answer = {
                "response": "ProvideCredentials",
                "username": credentials[0],
                "password": credentials[1],
            }
        try:
            (send or self._core.send)(
                "Fetch.continueWithAuth", {"requestId": request_id, "authChallengeResponse": answer}
            )
        except SyncdpError as exc:
            logger.debug("answering the auth challenge of %s failed: %s", request_id, exc)
