"""Who keeps a CDP domain of one tab enabled: syncdp's helpers count together.

Several helpers of a tab need the same domain: the network log, ``block_urls`` and the
``offline`` emulation all need ``Network``; ``route`` and ``set_http_credentials`` share
``Fetch``. Each helper is a named *user* of its domain. The domain is enabled when its first
user arrives and disabled when its last one leaves, unless the user of the tab enabled it
themselves (``tab.send("Network.enable")``): a helper never turns off what the user turned on.
Turning one helper off therefore never breaks another.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Optional, Set

__all__ = ["DomainUsers"]

logger = logging.getLogger(__name__)

Send = Callable[..., Dict[str, Any]]


class DomainUsers:
    """The helpers that need each domain of one tab enabled.

    Args:
        send: the tab's command path (``send(method, params)``).
        user_enabled: whether the user enabled a domain through the tab themselves.
    """

    def __init__(self, send: Send, user_enabled: Callable[[str], bool]) -> None:
        self._send = send
        self._user_enabled = user_enabled
        self._users: Dict[str, Set[str]] = {}
        # Held across the enable/disable command, so that two helpers arriving or leaving
        # at once cannot interleave "enable" and "disable" in the wrong order.
        self._lock = threading.Lock()

    def acquire(
        self, domain: str, user: str, enable_params: Optional[Dict[str, Any]] = None
    ) -> None:
        """``user`` needs ``domain``: enable it if nobody did (idempotent per user).

        ``enable_params`` are sent with ``X.enable`` every time (``Fetch.enable`` replaces
        its patterns that way); without them the domain is enabled once.
        """
        with self._lock:
            users = self._users.setdefault(domain, set())
            first = not users
            if first or enable_params is not None:
                self._send(domain + ".enable", enable_params)
            users.add(user)

    def release(self, domain: str, user: str) -> None:
        """``user`` no longer needs ``domain``: disable it when it was the last one, unless
        the user of the tab enabled it themselves."""
        with self._lock:
            users = self._users.get(domain, set())
            if user not in users:
                return
            users.discard(user)
            if users:
                logger.debug("%s stays enabled for %s", domain, sorted(users))
                return
            if self._user_enabled(domain):
                logger.debug("%s stays enabled: the user enabled it through the tab", domain)
                return
            self._send(domain + ".disable")

    def users(self, domain: str) -> Set[str]:
        """The helpers that need ``domain`` now."""
        with self._lock:
            return set(self._users.get(domain, ()))
