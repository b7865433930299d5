"""Waiting for new tabs: ``Tab.expect_popup`` and ``Browser.expect_tab``.

Race-free like ``expect_event``: target discovery is on and the waiter registered before
the ``with`` block runs the trigger, and the wait happens when the block ends.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Generic, Optional, Type, TypeVar

from syncdp._checks import check_timeout
from syncdp.connection import ConnectionHandler, EventExpectation

__all__ = ["BrowserTabs", "TabExpectation", "expect_target"]

T = TypeVar("T")


class TabExpectation(Generic[T]):
    """The result of ``expect_popup`` / ``expect_tab``: a context manager whose
    :attr:`value` is the new tab once the ``with`` block has ended."""

    def __init__(self, expectation: EventExpectation, make_tab: Callable[[str], T]) -> None:
        self._expectation = expectation
        self._make_tab = make_tab
        self._value: Optional[T] = None

    @property
    def value(self) -> T:
        """The new tab.

        Raises:
            RuntimeError: read before the ``with`` block ended.
        """
        if self._value is None:
            raise RuntimeError("the new tab is available once the with block has ended")
        return self._value

    def __enter__(self) -> "TabExpectation[T]":
        self._expectation.__enter__()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._expectation.__exit__(exc_type, exc, tb)
        if exc_type is None:
            info = (self._expectation.value.get("params") or {}).get("targetInfo") or {}
            self._value = self._make_tab(str(info["targetId"]))


def expect_target(
    connection: ConnectionHandler,
    matches: Callable[[Dict[str, Any]], bool],
    timeout: Any,
    make_tab: Callable[[str], T],
) -> TabExpectation[T]:
    """Expect the next ``Target.targetCreated`` whose TargetInfo ``matches``.

    Raises:
        InvalidCommand: a bad ``timeout`` (nothing sent).
    """
    limit = check_timeout(timeout)
    # Discovery first: Chromium announces the targets that exist already before answering,
    # and the waiter registered after that sees only new ones.
    connection.send("Target.setDiscoverTargets", {"discover": True})

    def created(event: Dict[str, Any]) -> bool:
        info = (event.get("params") or {}).get("targetInfo") or {}
        return bool(matches(info))

    return TabExpectation(connection.expect_event("Target.targetCreated", created, limit), make_tab)


TabT = TypeVar("TabT")


def _is_page(info: Dict[str, Any]) -> bool:
    return info.get("type") == "page"


class BrowserTabs(Generic[TabT]):
    """New-tab waits of a browser (mixed into ``Browser`` as ``BrowserTabs[Tab]``)."""

    if TYPE_CHECKING:  # pragma: no cover - provided by Browser

        @property
        def connection(self) -> ConnectionHandler: ...

        def _tab_for(self, target_id: str) -> TabT: ...

    def expect_tab(self, timeout: Optional[float] = 10) -> TabExpectation[TabT]:
        """Race-free wait for any new page target opened inside the ``with`` block (a
        popup of any tab, ``new_tab``, another client's)::

            with browser.expect_tab() as new:
                tab.query("a[target=_blank]").click()
            popup = new.value  # the new Tab

        Raises:
            InvalidCommand: a bad ``timeout`` (``None``: no limit).
            EventTimeoutError: (leaving the block) no page opened in time.
        """
        return expect_target(self.connection, _is_page, timeout, self._tab_for)
