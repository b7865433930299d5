"""What every transport shares: how a wire says it ended, and URL redaction for logs."""

from __future__ import annotations

from typing import Optional

from syncdp.discovery import redact_url
from syncdp.exceptions import SyncdpConnectionError

__all__ = ["TransportClosed", "redact_url"]


class TransportClosed(SyncdpConnectionError):
    """The wire ended: raised by :meth:`Transport.receive` (how it closed).

    Attributes:
        code: the close code the peer sent (a websocket close frame), or ``None``.
        reason: the close reason the peer sent, or ``None``.
        detail: what happened, for logs and for the error pending commands fail with.
    """

    def __init__(self, code: Optional[int], reason: Optional[str], detail: str) -> None:
        self.code = code
        self.reason = reason
        self.detail = detail
        super().__init__(detail)
