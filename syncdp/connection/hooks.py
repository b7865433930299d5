"""What the layers built on a connection need beyond the user API.

syncdp's own ``Tab`` and ``Browser`` react to some events before anything else may (a dialog
or a crash fails the commands it will never answer), announce closes they cause on purpose,
share one protocol per browser and send their set-up in one round trip. Those needs are this
one small interface, reached as ``endpoint.hooks``, instead of public methods mixed into the
user API or private ones read from outside. Not part of the documented user API.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from syncdp.connection.core import CLOSED_BY_CLOSE, ConnectionCore
from syncdp.connection.router import ReaderHook, Route

__all__ = ["EndpointHooks"]

Commands = List[Tuple[str, Optional[Dict[str, Any]]]]


def _any_method(method: str) -> bool:
    return True


class EndpointHooks:
    """Library hooks of one endpoint (a connection or a session).

    Built on demand by ``endpoint.hooks`` from the endpoint's parts, so it holds no
    reference back to the endpoint beyond the two functions it is given.
    """

    __slots__ = ("_core", "_route", "_send_pipelined", "_set_provider")

    def __init__(
        self,
        core: ConnectionCore,
        route: Route,
        send_pipelined: Callable[[Commands, Optional[float]], List[Dict[str, Any]]],
        set_protocol_provider: Callable[[Optional[Callable[[], Any]]], None],
    ) -> None:
        self._core = core
        self._route = route
        self._send_pipelined = send_pipelined
        self._set_provider = set_protocol_provider

    def add_reader_hook(self, event_name: str, hook: ReaderHook) -> None:
        """Run ``hook(event)`` on the reader thread, before callbacks and waiters see it.

        For library code that must react before anything else can (failing commands that a
        dialog or a crash will never answer). A hook must be quick and must never send a
        command and wait for it. A bound method is held weakly.
        """
        self._route.hooks.add(event_name, hook, weak=True)

    def remove_reader_hook(self, event_name: str, hook: ReaderHook) -> None:
        """Remove a hook added by :meth:`add_reader_hook` (no error if absent)."""
        self._route.hooks.remove(event_name, hook)

    def fail_pending(
        self,
        make_error: Callable[[str], BaseException],
        predicate: Optional[Callable[[str], bool]] = None,
    ) -> int:
        """Fail pending commands (those whose method satisfies ``predicate``) at once with
        ``make_error(method)``; late answers are dropped. Returns how many."""
        return self._core.commands.fail_matching(
            predicate or _any_method, make_error, self._route.session_id
        )

    def fail_waiters(self, make_error: Callable[[str], BaseException]) -> None:
        """Make every thread waiting for an event here raise ``make_error(event_name)`` now."""
        self._route.events.fail_waiters(make_error)

    def expect_close(self) -> None:
        """The browser is about to end this connection on purpose: not a loss."""
        self._core.expect_close(CLOSED_BY_CLOSE)

    def set_protocol_provider(self, provider: Optional[Callable[[], Any]]) -> None:
        """Where ``.cdp`` gets the protocol (a Browser shares one per browser); held weakly
        when it is a bound method."""
        self._set_provider(provider)

    def send_pipelined(self, commands: Commands, timeout: Optional[float] = 10) -> List[Dict[str, Any]]:
        """Send several commands back to back, then wait for each: one round trip, not N.

        ``X.enable`` among them is replayed after a reconnect like any other. Returns the
        results in order; the first CDP error raises ``CommandError``.
        """
        return self._send_pipelined(commands, timeout)
