"""HTTP discovery: ``/json/version``, ``/json/list`` and ``/json/protocol`` (via requests).

Loopback endpoints are always reached directly: an ``HTTP_PROXY`` / ``http_proxy`` variable in
the environment must not route ``127.0.0.1`` through a proxy (requests would, unless NO_PROXY
says otherwise).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import requests

from syncdp.exceptions import ConnectFailedError, DiscoveryError, format_seconds

__all__ = [
    "DEFAULT_HOST",
    "is_loopback",
    "get_version",
    "get_browser_ws_address",
    "get_page_ws_address",
    "list_targets",
    "get_protocol",
    "resolve_ws_url",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``127.x``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _get_json(
    host: str,
    port: int,
    path: str,
    timeout: float,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
) -> Any:
    url = "%s://%s:%s%s" % (scheme, host, port, path)
    with requests.Session() as session:
        # trust_env=False: no proxy (and no .netrc) for loopback; remote hosts keep the
        # environment's proxy settings, which is what a user behind a proxy expects.
        session.trust_env = not is_loopback(host)
        try:
            reply = session.get(url, timeout=timeout, headers=dict(headers or {}))
        except requests.ConnectionError as exc:
            raise ConnectFailedError(
                host, port, "%s unreachable (%s)" % (url, _short(exc))
            ) from exc
        except requests.Timeout as exc:
            raise ConnectFailedError(
                host, port, "%s did not answer within %ss" % (url, format_seconds(timeout))
            ) from exc
        except requests.RequestException as exc:
            raise DiscoveryError("GET %s failed: %s" % (url, _short(exc))) from exc
    if reply.status_code != 200:
        raise DiscoveryError(
            "GET %s answered HTTP %s: %s" % (url, reply.status_code, reply.text[:200].strip())
        )
    try:
        return reply.json()
    except ValueError as exc:
        raise DiscoveryError("GET %s did not return JSON: %r" % (url, reply.text[:200])) from exc


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def get_version(
    port: int,
    host: str = DEFAULT_HOST,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
) -> Dict[str, Any]:
    """Return the browser's ``/json/version`` document.

    Raises:
        ConnectFailedError: nothing answers at ``host:port``.
        DiscoveryError: the endpoint answered, but not with a JSON object.
    """
    data = _get_json(host, port, "/json/version", timeout, headers, scheme)
    if not isinstance(data, dict):
        raise DiscoveryError("/json/version at %s:%s is not a JSON object: %r" % (host, port, data))
    return data


def get_browser_ws_address(
    port: int,
    host: str = DEFAULT_HOST,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
) -> str:
    """The browser-level websocket URL from ``/json/version`` (pydoll's default resolver).

    Raises:
        ConnectFailedError: nothing answers at ``host:port``.
        DiscoveryError: the answer has no ``webSocketDebuggerUrl``.
    """
    data = get_version(port, host, timeout=timeout, headers=headers, scheme=scheme)
    url = data.get("webSocketDebuggerUrl")
    if not isinstance(url, str) or not url:
        raise DiscoveryError(
            "/json/version at %s:%s has no webSocketDebuggerUrl (is this a Chromium DevTools "
            "endpoint? got keys %s)" % (host, port, sorted(data))
        )
    return url


def get_page_ws_address(port: int, page_id: str, host: str = DEFAULT_HOST) -> str:
    """The websocket URL of target ``page_id`` (no request is made)."""
    return "ws://%s:%s/devtools/page/%s" % (host, port, page_id)


def list_targets(
    port: int,
    host: str = DEFAULT_HOST,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
) -> List[Dict[str, Any]]:
    """Return ``/json/list``: every target the browser exposes."""
    data = _get_json(host, port, "/json/list", timeout, headers, scheme)
    if not isinstance(data, list):
        raise DiscoveryError("/json/list at %s:%s is not a JSON array" % (host, port))
    return data


def get_protocol(
    port: int,
    host: str = DEFAULT_HOST,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
) -> Dict[str, Any]:
    """Return ``/json/protocol``: the browser's own protocol descriptor."""
    data = _get_json(host, port, "/json/protocol", timeout, headers, scheme)
    if not isinstance(data, dict) or "domains" not in data:
        raise DiscoveryError("/json/protocol at %s:%s has no 'domains'" % (host, port))
    return data


def resolve_ws_url(
    target: Union[int, str],
    page_id: str,
    resolver: Callable[[int], str],
    *,
    timeout: float,
    headers: Optional[Dict[str, str]] = None,
) -> str:
    """The websocket URL of ``page_id`` (``'browser'`` or a target id) at ``target``.

    Args:
        target: a local DevTools port, an ``http(s)://host:port`` endpoint (asked over HTTP),
            or a ``ws(s)://`` URL (used as is for the browser; same host, port and query
            string for a page).
        resolver: maps a port to the browser URL (``get_browser_ws_address`` by default).
    """
    if isinstance(target, int):
        if page_id != "browser":
            return get_page_ws_address(target, page_id)
        if resolver is get_browser_ws_address:
            return get_browser_ws_address(target, timeout=timeout, headers=headers)
        return resolver(target)
    parts = urlsplit(target)
    page_path = "/devtools/page/" + page_id
    if parts.scheme in ("http", "https"):
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        if page_id != "browser":
            return urlunsplit((ws_scheme, parts.netloc, page_path, parts.query, ""))
        host = parts.hostname or DEFAULT_HOST
        port = parts.port or (443 if parts.scheme == "https" else 80)
        url = get_browser_ws_address(
            port, host, timeout=timeout, headers=headers, scheme=parts.scheme
        )
        if parts.query and "?" not in url:
            url += "?" + parts.query
        return url
    if page_id == "browser":
        return target
    return urlunsplit((parts.scheme, parts.netloc, page_path, parts.query, ""))
