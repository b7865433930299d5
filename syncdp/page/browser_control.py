"""The :class:`~syncdp.browser.Browser` methods for browser-wide state, as a mixin: contexts,
cookies, downloads and permissions.

``Browser`` inherits :class:`BrowserControl`; everything goes through ``Browser.send`` on the
browser-level connection.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence

from syncdp.exceptions import InvalidCommand

__all__ = ["BrowserControl", "PERMISSIONS"]

logger = logging.getLogger(__name__)

# Permission names (Playwright's and the Permissions API's) -> Browser.setPermission's
# PermissionDescriptor. Browser.grantPermissions is deprecated in this protocol.
PERMISSIONS: Dict[str, Dict[str, Any]] = {
    name: {"name": name}
    for name in (
        "accelerometer", "ambient-light-sensor", "background-fetch", "background-sync",
        "camera", "captured-surface-control", "clipboard-read", "clipboard-write",
        "display-capture", "geolocation", "gyroscope", "idle-detection", "keyboard-lock",
        "local-fonts", "local-network", "local-network-access", "loopback-network",
        "magnetometer", "microphone", "midi", "nfc", "notifications", "payment-handler",
        "periodic-background-sync", "persistent-storage", "pointer-lock", "screen-wake-lock",
        "speaker-selection", "storage-access", "system-wake-lock", "top-level-storage-access",
        "web-app-installation", "window-management",
    )
}
PERMISSIONS["midi-sysex"] = {"name": "midi", "sysex": True}
PERMISSIONS["push"] = {"name": "push", "userVisibleOnly": True}
PERMISSIONS["fullscreen"] = {"name": "fullscreen", "allowWithoutGesture": True}


def _check_optional_text(value: Any, what: str) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidCommand("%s must be a non-empty string or None, got %r" % (what, value))
    return value


def _context(browser_context_id: Any) -> Dict[str, Any]:
    """The ``browserContextId`` parameter: none for the default context (``None``).

    An empty string is refused: sent as "no context" it would act on the default one.
    """
    if _check_optional_text(browser_context_id, "browser_context_id") is None:
        return {}
    return {"browserContextId": browser_context_id}


def _expired(cookie: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``Storage.setCookies`` entries that delete ``cookie``: the same cookie, expired.

    Both spellings are sent (a host-only cookie is addressed by URL, a domain cookie by its
    domain); an expired cookie that matches nothing stores nothing, so the extra one is
    harmless.
    """
    base: Dict[str, Any] = {
        "name": cookie["name"],
        "value": "",
        "path": cookie.get("path", "/"),
        "secure": bool(cookie.get("secure")),
        "httpOnly": bool(cookie.get("httpOnly")),
        "expires": 1,
    }
    for key in ("sameSite", "partitionKey"):
        if cookie.get(key):
            base[key] = cookie[key]
    domain = str(cookie.get("domain", ""))
    host = domain.lstrip(".")
    by_url = dict(base, url="%s://%s%s" % ("https" if base["secure"] else "http", host, base["path"]))
    return [by_url, dict(base, domain=domain)]


class BrowserControl:
    """Browser contexts, cookies, downloads and permissions for :class:`~syncdp.browser.Browser`."""

    def send(
        self, method: str, params: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = 30
    ) -> Dict[str, Any]:
        """Provided by :class:`~syncdp.browser.Browser` (a browser-level CDP command)."""
        raise NotImplementedError

    def create_browser_context(self, *, proxy_server: Optional[str] = None) -> str:
        """Create an isolated context (own cookies and storage, like an incognito window)."""
        params: Dict[str, Any] = {"disposeOnDetach": True}
        if proxy_server:
            params["proxyServer"] = proxy_server
        return str(self.send("Target.createBrowserContext", params)["browserContextId"])

    def delete_browser_context(self, browser_context_id: str) -> None:
        """Close a context and every tab in it."""
        self.send("Target.disposeBrowserContext", {"browserContextId": browser_context_id})

    def get_cookies(self, *, browser_context_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """All cookies of the default (or the given) context."""
        return list(self.send("Storage.getCookies", _context(browser_context_id))["cookies"])

    def set_cookies(
        self, cookies: Sequence[Dict[str, Any]], *, browser_context_id: Optional[str] = None
    ) -> None:
        """Set cookies (CDP ``CookieParam`` dicts: ``name``, ``value``, ``url`` or ``domain``...)."""
        if isinstance(cookies, (dict, str, bytes)):
            raise InvalidCommand("cookies must be a list of dicts, got %r" % (cookies,))
        listed = list(cookies)  # once: a generator is read a single time
        if not all(isinstance(c, dict) for c in listed):
            raise InvalidCommand("cookies must be a list of dicts, got %r" % (listed,))
        params: Dict[str, Any] = dict(_context(browser_context_id), cookies=listed)
        self.send("Storage.setCookies", params)

    def delete_all_cookies(self, *, browser_context_id: Optional[str] = None) -> None:
        """Remove every cookie of the default (or the given) context."""
        self.send("Storage.clearCookies", _context(browser_context_id))

    def set_download_path(self, path: str) -> None:
        """Save downloads into ``path`` (created if missing) without asking."""
        path = os.path.abspath(path)
        os.makedirs(path, exist_ok=True)
        self.send(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": path, "eventsEnabled": True},
        )

    def grant_permissions(
        self,
        permissions: Sequence[str],
        *,
        origin: Optional[str] = None,
        browser_context_id: Optional[str] = None,
    ) -> None:
        """Grant permissions without a prompt (Playwright's ``grant_permissions``).

        Args:
            permissions: names like ``"geolocation"``, ``"notifications"``,
                ``"clipboard-read"``, ``"camera"`` (see :data:`PERMISSIONS`).
            origin: only for this origin (``"http://127.0.0.1:8000"``); default: every origin.
            browser_context_id: in this context (default: the default context).

        Raises:
            InvalidCommand: ``permissions`` not a list of known names, or a bad ``origin``;
                nothing is sent then.
        """
        if isinstance(permissions, str) or not isinstance(permissions, (list, tuple)):
            raise InvalidCommand("permissions must be a list of names, got %r" % (permissions,))
        unknown = [p for p in permissions if not isinstance(p, str) or p not in PERMISSIONS]
        if unknown:
            raise InvalidCommand(
                "permissions holds unknown names %r (known: %s)" % (unknown, sorted(PERMISSIONS))
            )
        if origin is not None and (not isinstance(origin, str) or "://" not in origin):
            raise InvalidCommand("origin must be an origin like 'https://example.com', got %r" % (origin,))
        _check_optional_text(browser_context_id, "browser_context_id")
        for name in permissions:
            params: Dict[str, Any] = {"permission": dict(PERMISSIONS[name]), "setting": "granted"}
            if origin is not None:
                params["origin"] = origin.rstrip("/")
            if browser_context_id is not None:
                params["browserContextId"] = browser_context_id
            self.send("Browser.setPermission", params)

    def delete_cookies(
        self,
        name: str,
        *,
        domain: Optional[str] = None,
        path: Optional[str] = None,
        browser_context_id: Optional[str] = None,
    ) -> int:
        """Delete the cookies called ``name`` (only those of ``domain`` and ``path``, if given).

        Args:
            name: the cookie's name.
            domain: e.g. ``"127.0.0.1"`` or ``".example.com"`` (a leading dot is ignored when
                comparing).
            path: e.g. ``"/"``.
            browser_context_id: in this context (default: the default context).

        Returns:
            How many cookies were deleted.

        Raises:
            InvalidCommand: a bad argument (named); nothing is sent then.
        """
        if not isinstance(name, str) or not name:
            raise InvalidCommand("name must be a non-empty string, got %r" % (name,))
        _check_optional_text(domain, "domain")
        _check_optional_text(path, "path")
        _check_optional_text(browser_context_id, "browser_context_id")
        context = {"browserContextId": browser_context_id} if browser_context_id else {}
        cookies = self.send("Storage.getCookies", dict(context))["cookies"]
        doomed = [
            c for c in cookies
            if c.get("name") == name
            and (domain is None or str(c.get("domain", "")).lstrip(".") == domain.lstrip("."))
            and (path is None or c.get("path") == path)
        ]
        if doomed:
            entries = [entry for cookie in doomed for entry in _expired(cookie)]
            self.send("Storage.setCookies", dict(context, cookies=entries))
        logger.debug("deleted %d cookie(s) named %r", len(doomed), name)
        return len(doomed)
