"""The :class:`~syncdp.tab.Tab` methods for interception, blocking and emulation, as a mixin.

``Tab`` inherits :class:`NetworkControl`; the work is done by the collaborators of
:mod:`.interception` (``Fetch``) and :mod:`.emulation`, created on first use, and by
:class:`UrlBlocker` here (``Network.setBlockedURLs``). Each method checks its arguments before
anything is sent (``InvalidCommand`` names the bad one), blocks until the browser applied it,
and may be called from any thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from syncdp.exceptions import CommandError, InvalidCommand
from syncdp.page.emulation import Emulation, check_emulation
from syncdp.page.interception import Interceptor, RouteHandler, UrlPattern

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.page.core import PageCore

__all__ = ["NetworkControl", "UrlBlocker"]

_CREATE_LOCK = threading.Lock()  # creating a tab's helpers, once


def _check_block_patterns(patterns: Any) -> List[str]:
    if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
        raise InvalidCommand("patterns must be a list of URL patterns, got %r" % (patterns,))
    for pattern in patterns:
        if not isinstance(pattern, str) or "://" not in pattern:
            raise InvalidCommand(
                "patterns must hold absolute URL patterns like '*://*/*.png' "
                "(the URLPattern syntax), got %r" % (pattern,)
            )
    return list(patterns)


class UrlBlocker:
    """``tab.block_urls``: ``Network.setBlockedURLs`` with its non-deprecated ``urlPatterns``."""

    def __init__(self, core: "PageCore") -> None:
        self._core = core
        self._lock = threading.Lock()
        self._patterns: List[str] = []
        core.on_reconnect(self._reapply)

    def _reapply(self) -> None:
        with self._lock:
            patterns = list(self._patterns)
        if patterns:  # a new connection starts with nothing blocked
            entries = [{"urlPattern": p, "block": True} for p in patterns]
            self._core.send("Network.setBlockedURLs", {"urlPatterns": entries})

    def block(self, patterns: List[str]) -> None:
        """Block exactly ``patterns`` from now on (``[]``: nothing)."""
        domains = self._core.domains
        with self._lock:
            if not patterns and not self._patterns:
                return
            if patterns:
                domains.acquire("Network", "blocked urls")  # the list works while enabled only
            entries = [{"urlPattern": p, "block": True} for p in patterns]
            try:
                self._core.send("Network.setBlockedURLs", {"urlPatterns": entries})
            except CommandError as exc:
                if not self._patterns:
                    domains.release("Network", "blocked urls")
                if exc.code == -32602:  # "Pattern ... failed to parse as a URLPattern"
                    raise InvalidCommand("patterns: %s" % exc.message) from exc
                raise
            self._patterns = list(patterns)
            if not patterns:
                domains.release("Network", "blocked urls")


class NetworkControl:
    """Request interception, URL blocking and emulation for :class:`~syncdp.tab.Tab`."""

    _core: "PageCore"
    _net_helpers: Optional[Tuple[Interceptor, UrlBlocker, Emulation]] = None

    def _helpers(self) -> Tuple[Interceptor, UrlBlocker, Emulation]:
        helpers = self._net_helpers
        if helpers is None:
            with _CREATE_LOCK:
                helpers = self._net_helpers
                if helpers is None:
                    core = self._core
                    helpers = (Interceptor(core), UrlBlocker(core), Emulation(core))
                    self._net_helpers = helpers
        return helpers

    # -- interception -----------------------------------------------------------------------

    def route(self, url_pattern: UrlPattern, handler: RouteHandler) -> None:
        """Intercept the requests whose URL matches ``url_pattern`` (Playwright's ``page.route``).

        ``handler(route)`` runs on the dispatcher thread for each matching request, with a
        :class:`~syncdp.Route` whose ``request`` tells what was asked; it must call exactly one
        of ``route.continue_()``, ``route.fulfill()`` or ``route.abort()``. A handler that
        returns without deciding continues the request (a warning is logged); one that raises
        aborts it (the error is logged). The newest matching route handles a request. A
        handler may use the tab (``execute_script``, ``send``...); a ``go_to`` waiting on an
        intercepted document goes on once the handler decided. While a handler holds the
        page's own navigation, Chromium holds the page's other commands: those raise
        ``SyncdpError`` at once there (``Fetch``/``Browser``/``Target``/``Storage`` still work).
        After :meth:`follow_children`, requests of out-of-process iframes are routed too.
        Handlers share the dispatcher with your callbacks: a callback that calls ``go_to`` for
        a routed document would wait for the handler queued behind it, so register such a
        callback with ``background=True``.

        Args:
            url_pattern: a glob matched against the whole URL, as ``Fetch.enable`` does
                (``*`` any characters, ``?`` one character, ``\\`` escapes), e.g.
                ``"*/api/*"`` or ``"*.png"``; or a compiled regex (``re.compile``), searched
                in the URL.
            handler: a callable taking the :class:`~syncdp.Route`.

        Raises:
            InvalidCommand: a bad ``url_pattern`` or ``handler``; nothing is sent.
            TargetClosedError: the tab is closed.
        """
        self._helpers()[0].route(url_pattern, handler)

    def unroute(self, url_pattern: UrlPattern, handler: Optional[RouteHandler] = None) -> int:
        """Remove the routes of ``url_pattern`` (only the one with ``handler``, if given).

        When no route and no HTTP credentials are left, interception stops (``Fetch.disable``,
        unless you enabled ``Fetch`` yourself through the tab).

        Returns:
            How many routes were removed.

        Raises:
            InvalidCommand: a bad ``url_pattern`` or ``handler``.
        """
        return self._helpers()[0].unroute(url_pattern, handler)

    def set_http_credentials(self, username: Optional[str], password: Optional[str] = None) -> None:
        """Answer HTTP authentication challenges (Basic, Digest...) with these credentials.

        ``set_http_credentials(None)`` stops answering. A server that refuses them gets no
        second try: the request goes on without credentials (its 401 page shows).

        Raises:
            InvalidCommand: ``username``/``password`` not strings.
            TargetClosedError: the tab is closed.
        """
        if username is None:
            self._helpers()[0].set_credentials(None)
            return
        if not isinstance(username, str):
            raise InvalidCommand("username must be a string or None, got %r" % (username,))
        if not isinstance(password, str):
            raise InvalidCommand("password must be a string, got %r" % (type(password).__name__,))
        self._helpers()[0].set_credentials((username, password))

    def block_urls(self, patterns: Sequence[str]) -> None:
        """Make requests to these URLs fail (``net::ERR_BLOCKED_BY_CLIENT``); ``[]`` unblocks.

        Each pattern uses the URLPattern syntax and is absolute, e.g. ``"*://*/*.png"`` or
        ``"http://127.0.0.1:*/ads/*"``. The list replaces the previous one.

        Raises:
            InvalidCommand: ``patterns`` not a list of absolute URL patterns, or one the
                browser cannot parse (then nothing changed).
        """
        self._helpers()[1].block(_check_block_patterns(patterns))

    # -- emulation --------------------------------------------------------------------------

    def emulate(
        self,
        *,
        device: Optional[str] = None,
        viewport: Optional[Tuple[int, int]] = None,
        device_scale_factor: Optional[float] = None,
        is_mobile: Optional[bool] = None,
        has_touch: Optional[bool] = None,
        user_agent: Optional[str] = None,
        locale: Optional[str] = None,
        timezone_id: Optional[str] = None,
        geolocation: Optional[Tuple[float, float]] = None,
        color_scheme: Optional[str] = None,
        offline: Optional[bool] = None,
    ) -> None:
        """Emulate a device or some of its properties (Playwright's option names).

        An option left at ``None`` keeps its current state; ``device`` (one of
        :data:`syncdp.page.devices.DEVICES`, e.g. ``"iPhone 13"``, ``"Pixel 5"``) sets the
        viewport, screen, scale factor, mobile, touch and user agent, which explicit options
        override.

        Args:
            viewport: ``(width, height)`` in CSS pixels.
            device_scale_factor: device pixels per CSS pixel (``window.devicePixelRatio``).
            is_mobile: a mobile viewport (meta viewport honoured, overlay scrollbars).
            has_touch: touch events (``navigator.maxTouchPoints`` > 0).
            user_agent: the ``User-Agent`` header and ``navigator.userAgent``.
            locale: e.g. ``"de-DE"``: ``navigator.language``, ``Intl`` and ``Accept-Language``.
            timezone_id: an IANA time zone, e.g. ``"Europe/Berlin"``.
            geolocation: ``(latitude, longitude)``; the page also needs the permission
                (:meth:`Browser.grant_permissions`).
            color_scheme: ``"light"``, ``"dark"`` or ``"no-preference"``
                (``prefers-color-scheme``).
            offline: ``True`` makes every request fail and ``navigator.onLine`` false.

        Raises:
            InvalidCommand: an unknown device or a bad option (named), checked before
                anything is sent; a ``timezone_id`` the browser does not know (then nothing
                was changed).
            TargetClosedError: the tab is closed.
        """
        options = check_emulation(
            device,
            {
                "viewport": viewport,
                "device_scale_factor": device_scale_factor,
                "is_mobile": is_mobile,
                "has_touch": has_touch,
                "user_agent": user_agent,
                "locale": locale,
                "timezone_id": timezone_id,
                "geolocation": geolocation,
                "color_scheme": color_scheme,
                "offline": offline,
            },
        )
        if not options:
            raise InvalidCommand("emulate() needs a device or at least one option")
        self._core.check_open("Tab.emulate")
        self._helpers()[2].emulate(options)
