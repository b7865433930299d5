"""The network log of one tab: ``Network.requestWillBeSent`` events and response bodies."""

from __future__ import annotations

import base64
import logging
from typing import Any, Dict, List, Optional, Union

from syncdp.page.core import PageCore

logger = logging.getLogger(__name__)

__all__ = ["NetworkLog"]


class NetworkLog:
    """The network side of a tab (see :meth:`Tab.enable_network_events`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core

    def enable(self) -> None:
        """Start recording network requests (``Network.enable``)."""
        self._core.domains.acquire("Network", "network log")

    def disable(self) -> None:
        """Stop recording network requests. The Network domain stays on while another
        helper of the tab needs it (``block_urls``, ``emulate(offline=True)``) or when the
        user enabled it through the tab for their own callbacks."""
        self._core.domains.release("Network", "network log")

    def logs(self, filter: Optional[str] = None) -> List[Dict[str, Any]]:  # noqa: A002
        """The recorded events, optionally those whose URL contains ``filter``."""
        logs = self._core.connection.network_logs
        if filter is None:
            return logs
        return [
            e for e in logs if filter in str(e.get("params", {}).get("request", {}).get("url", ""))
        ]

    def response_body(self, request_id: str) -> Union[str, bytes]:
        """The body of a finished response: ``str`` for text, ``bytes`` when base64-encoded."""
        result = self._core.send("Network.getResponseBody", {"requestId": request_id})
        body = str(result.get("body", ""))
        return base64.b64decode(body) if result.get("base64Encoded") else body
