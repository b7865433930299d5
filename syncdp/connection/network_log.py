"""The network log of one endpoint: ``Network.requestWillBeSent`` events, oldest first.

Fed on the reader thread (a reader hook), so it is up to date before any later answer is
returned to a caller.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Deque, Dict, List, Optional

__all__ = ["NetworkLog", "NETWORK_REQUEST_EVENT"]

logger = logging.getLogger(__name__)

NETWORK_REQUEST_EVENT = "Network.requestWillBeSent"


class NetworkLog:
    """A bounded log of request events.

    Args:
        limit: how many events to keep (oldest dropped first, with one warning); ``None``
            keeps all.
    """

    def __init__(self, limit: Optional[int] = 10_000) -> None:
        self._events: Deque[Dict[str, Any]] = collections.deque(maxlen=limit)
        self._warned = False

    def record(self, event: Dict[str, Any]) -> None:
        """Append one ``Network.requestWillBeSent`` event (reader thread)."""
        events = self._events
        if events.maxlen is not None and len(events) == events.maxlen and not self._warned:
            self._warned = True
            logger.warning(
                "network log full (%d entries): dropping the oldest; raise "
                "network_logs_limit or call clear_network_logs()",
                events.maxlen,
            )
        events.append(event)

    @property
    def entries(self) -> List[Dict[str, Any]]:
        """The events seen, oldest first (a copy)."""
        return list(self._events)

    def clear(self) -> None:
        """Forget every event."""
        self._events.clear()
        self._warned = False
