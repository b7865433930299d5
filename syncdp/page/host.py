"""What a :class:`~syncdp.tab.Tab` needs from its browser, as one small object.

The browser builds a :class:`TabHost` and hands it to each tab it creates, so the tab module
never imports the browser module (the browser imports the tab) and never reads the
browser's private state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from syncdp.connection import ConnectionHandler
from syncdp.connection.endpoint import _Endpoint
from syncdp.exceptions import CommandError, SyncdpError

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.protocol import Protocol

__all__ = ["TabHost"]


class TabHost:
    """The browser as its tabs see it.

    Args:
        connection: the browser-level connection (raises ``SyncdpError`` when the browser
            is not started or was stopped).
        root: the browser-level connection if there is one, without raising or connecting.
        open_connection: a new connection to a page target (a session on the browser's
            socket, or the page's own websocket, depending on the tab mode).
        unusable_reason: why the browser cannot be used (stopped, not started), or
            ``None`` while it can.
        viewport: the ``(width, height)`` each tab pins its viewport to, or ``None``.
        get_protocol: the browser's protocol, loaded once for all its tabs.
        adopt: a new tab hands over how it lets go of its connection (the browser calls
            that for every tab it still has when it stops).
        released: called once a tab has let go of its connection.
        tab_for: the browser's tab object for a page target id (popups); without it,
            ``SyncdpError``.
    """

    def __init__(
        self,
        *,
        connection: Callable[[], ConnectionHandler],
        root: Callable[[], Optional[ConnectionHandler]],
        open_connection: Callable[[str], _Endpoint],
        unusable_reason: Callable[[], Optional[str]],
        viewport: Callable[[], Optional[Tuple[int, int]]],
        get_protocol: Callable[[], "Protocol"],
        adopt: Callable[[str, Callable[[], None]], None],
        released: Callable[[Any], None],
        tab_for: Optional[Callable[[str], Any]] = None,
    ) -> None:
        self.connection = connection
        self.root = root
        self.open_connection = open_connection
        self.unusable_reason = unusable_reason
        self.viewport = viewport
        self.get_protocol = get_protocol
        self.adopt = adopt
        self.released = released
        self._tab_for = tab_for

    def tab_for(self, target_id: str) -> Any:
        """The browser's tab object for page ``target_id`` (one per target)."""
        if self._tab_for is None:
            raise SyncdpError("this browser cannot hand out tabs for new targets")
        return self._tab_for(target_id)

    def target_info(self, target_id: str) -> Dict[str, Any]:
        """Title and URL of a target from the browser (answers even while a page shows a
        dialog); ``{}`` when unavailable. Never connects, never raises."""
        root = self.root()
        if root is None or not root.connected:
            return {}
        try:
            info = root.send("Target.getTargetInfo", {"targetId": target_id}, timeout=2)
            return dict(info.get("targetInfo") or {})
        except (SyncdpError, OSError):
            return {}

    def target_gone(self, target_id: str) -> bool:
        """Whether the browser says it has no target ``target_id`` (False if it cannot
        tell: not connected, or no answer)."""
        root = self.root()
        if root is None or not root.connected:
            return False
        try:
            root.send("Target.getTargetInfo", {"targetId": target_id}, timeout=5)
        except CommandError:
            return True  # "No target with given id found"
        except (SyncdpError, OSError):
            return False
        return False
