"""HTTP discovery: ``/json/version``, ``/json/list`` and ``/json/protocol`` (via requests).

Loopback endpoints are always reached directly: an ``HTTP_PROXY`` / ``http_proxy`` variable in
the environment must not route ``127.0.0.1`` through a proxy (requests would, unless NO_PROXY
says otherwise).

Remote endpoints (containers, browser farms behind a gateway): the URL's query string (a
token) is sent with every discovery request and kept out of every message and log line,
urllib3's debug log included (:class:`_MaskQuery`); ``https`` endpoints use the caller's
``ssl.SSLContext`` (:func:`make_ssl_context`) when one is given.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Set, Union
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests

from syncdp.exceptions import (
    ConnectFailedError,
    DiscoveryError,
    InvalidCommand,
    SyncdpError,
    format_seconds,
)

__all__ = [
    "DEFAULT_HOST",
    "is_loopback",
    "get_version",
    "get_browser_ws_address",
    "get_page_ws_address",
    "list_targets",
    "get_protocol",
    "resolve_ws_url",
    "redact_url",
    "make_ssl_context",
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
    query: str = "",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Any:
    url = "%s://%s:%s%s" % (scheme, _url_host(host), port, path)
    if query:
        # Gateways check a token here: keep it, and out of every log line (see _MaskQuery).
        url += "?" + query
        _SECRETS.add(query)
    shown = redact_url(url)  # what messages say: never the query string
    # Imported here: a launched browser is reached without HTTP, and requests is a fifth of
    # `import syncdp`'s time (a command-line run pays it only when it asks an endpoint).
    import requests

    with requests.Session() as session:
        # trust_env=False: no proxy (and no .netrc) for loopback; remote hosts keep the
        # environment's proxy settings, which is what a user behind a proxy expects.
        session.trust_env = not is_loopback(host)
        if ssl_context is not None:
            session.mount("https://", _context_adapter(ssl_context))
        try:
            reply = session.get(url, timeout=timeout, headers=dict(headers or {}))
        except requests.RequestException as exc:
            # A secret query string: the cause (whose text has the whole URL) is not chained,
            # so no traceback shows the token.
            raise _request_error(exc, host, port, shown, timeout, query) from (None if query else exc)
    if reply.status_code in (401, 403, 407):
        raise ConnectFailedError(
            host,
            port,
            "GET %s answered HTTP %s %s: the endpoint refused the credentials (pass headers= "
            "with the token it expects, or the token in the URL's query string)"
            % (shown, reply.status_code, reply.reason or ""),
        )
    if reply.status_code != 200:
        raise DiscoveryError(
            "GET %s answered HTTP %s: %s" % (shown, reply.status_code, reply.text[:200].strip())
        )
    try:
        return reply.json()
    except ValueError as exc:
        raise DiscoveryError("GET %s did not return JSON: %r" % (shown, reply.text[:200])) from exc


def make_ssl_context(ca_file: Any = None, ssl_context: Any = None) -> Optional[ssl.SSLContext]:
    """The TLS settings for ``https://`` / ``wss://`` endpoints from ``connect()``'s arguments.

    Args:
        ca_file: a PEM file of the CA(s) to trust (a private CA of a browser farm or a
            test); the system's CAs are then not used.
        ssl_context: a ready ``ssl.SSLContext`` (client certificates, pinning, ...).

    Returns:
        The context, or ``None`` for the defaults (the system's CAs).

    Raises:
        InvalidCommand: both given, a ``ca_file`` that is not a readable PEM file, or an
            ``ssl_context`` that is not an ``ssl.SSLContext`` (the message names it).
    """
    if ca_file is not None and ssl_context is not None:
        raise InvalidCommand("pass ca_file or ssl_context, not both")
    if ssl_context is not None:
        if not isinstance(ssl_context, ssl.SSLContext):
            raise InvalidCommand("ssl_context must be an ssl.SSLContext, got %r" % (ssl_context,))
        return ssl_context
    if ca_file is None:
        return None
    if not isinstance(ca_file, (str, os.PathLike)):
        raise InvalidCommand("ca_file must be a path to a PEM file, got %r" % (ca_file,))
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidCommand("ca_file %r is not a readable PEM CA file: %s" % (ca_file, exc)) from exc


def _url_host(host: str) -> str:
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


def _request_error(
    exc: requests.RequestException, host: str, port: int, shown: str, timeout: float, query: str
) -> SyncdpError:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectFailedError(host, port, "TLS failed for %s: %s" % (shown, _tls_advice(exc)))
    if isinstance(exc, requests.ConnectionError):
        return ConnectFailedError(host, port, "%s unreachable (%s)" % (shown, _short(exc, query)))
    if isinstance(exc, requests.Timeout):
        return ConnectFailedError(
            host, port, "%s did not answer within %ss" % (shown, format_seconds(timeout))
        )
    return DiscoveryError("GET %s failed: %s" % (shown, _short(exc, query)))


def _tls_advice(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^('\"]+)", text)
    if match:
        detail = match.group(1).strip()
        return (
            "the server's certificate is not trusted (%s): pass ca_file= (the CA that signed it) "
            "or ssl_context=" % detail
        )
    return "TLS handshake error (%s)" % _short(exc, "")


def _context_adapter(context: ssl.SSLContext) -> Any:
    """requests' HTTPS with a caller's ``ssl.SSLContext`` (its CA, its checks) and nothing
    else: requests would otherwise load certifi's bundle into it (``cert_verify``)."""
    from requests.adapters import HTTPAdapter

    class ContextAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            conn.ca_certs = None
            conn.ca_cert_dir = None

    return ContextAdapter()


# -- keeping query strings (tokens) out of logs ------------------------------------------------

_SECRETS: "Set[str]" = set()
_REDACTED = "<redacted>"


class _MaskQuery(logging.Filter):
    """Replaces every query string syncdp sent (gateway tokens) in urllib3's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = list(_SECRETS)
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        masked = message
        for secret in secrets:
            masked = masked.replace(secret, _REDACTED)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_MASK = _MaskQuery()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_MASK)


def redact_url(url: str) -> str:
    """``url`` without its query string and credentials (auth tokens live there)."""
    parts = urlsplit(url)
    netloc = _url_host(parts.hostname or "")
    if parts.port:
        netloc += ":%s" % parts.port
    text = "%s://%s%s" % (parts.scheme, netloc, parts.path)
    if parts.query:
        text += "?" + _REDACTED
    return text


def _short(exc: BaseException, query: str = "") -> str:
    text = str(exc)
    if query:
        text = text.replace(query, _REDACTED)
    return text if len(text) <= 300 else text[:300] + "..."


def get_version(
    port: int,
    host: str = DEFAULT_HOST,
    *,
    timeout: float = 10.0,
    headers: Optional[Mapping[str, str]] = None,
    scheme: str = "http",
    query: str = "",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Dict[str, Any]:
    """Return the browser's ``/json/version`` document.

    Args:
        query: a query string sent with the request (a gateway's token); never logged.
        ssl_context: the TLS settings of an ``https`` endpoint (its CA); default: the system's.

    Raises:
        ConnectFailedError: nothing answers at ``host:port``, the TLS certificate is not
            trusted, or the endpoint refused the credentials (HTTP 401/403/407: the message
            names the status).
        DiscoveryError: the endpoint answered, but not with a JSON object.
    """
    data = _get_json(host, port, "/json/version", timeout, headers, scheme, query, ssl_context)
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
    query: str = "",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> str:
    """The browser-level websocket URL from ``/json/version`` (pydoll's default resolver).

    Raises:
        ConnectFailedError: nothing answers at ``host:port`` (see :func:`get_version`).
        DiscoveryError: the answer has no ``webSocketDebuggerUrl``.
    """
    data = get_version(
        port, host, timeout=timeout, headers=headers, scheme=scheme, query=query, ssl_context=ssl_context
    )
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
    query: str = "",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> List[Dict[str, Any]]:
    """Return ``/json/list``: every target the browser exposes."""
    data = _get_json(host, port, "/json/list", timeout, headers, scheme, query, ssl_context)
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
    query: str = "",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Dict[str, Any]:
    """Return ``/json/protocol``: the browser's own protocol descriptor."""
    data = _get_json(host, port, "/json/protocol", timeout, headers, scheme, query, ssl_context)
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
    ssl_context: Optional[ssl.SSLContext] = None,
) -> str:
    """The websocket URL of ``page_id`` (``'browser'`` or a target id) at ``target``.

    Args:
        target: a local DevTools port, an ``http(s)://host:port`` endpoint (asked over HTTP,
            with the URL's query string), or a ``ws(s)://`` URL (used as is for the browser;
            same host, port and query string for a page).
        resolver: maps a port to the browser URL (``get_browser_ws_address`` by default).
        ssl_context: TLS settings for an ``https://`` endpoint's discovery.

    For an ``http(s)://`` endpoint the answer's path is kept but the scheme (``wss`` for
    ``https``), host and port are the endpoint's own, as chromedp does: Chromium writes the
    ``Host`` it was asked for, which behind a container's port mapping or a TLS proxy is
    not the address the client reaches it by. The endpoint's query string is appended.
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
            port,
            host,
            timeout=timeout,
            headers=headers,
            scheme=parts.scheme,
            query=parts.query,
            ssl_context=ssl_context,
        )
        found = urlsplit(url)
        return urlunsplit((ws_scheme, parts.netloc, found.path, parts.query or found.query, ""))
    if page_id == "browser":
        return target
    return urlunsplit((parts.scheme, parts.netloc, page_path, parts.query, ""))
