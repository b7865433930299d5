"""Getting a browser's protocol descriptor: from its ``/json/protocol``, cached, or pinned.

One download per browser version and process (a memory cache keyed by product and protocol
version); with ``cache_dir=`` or ``$SYNCDP_PROTOCOL_CACHE``, one per version and machine (a
disk cache of gzipped descriptors, written atomically). A ``ws://`` endpoint without HTTP
discovery gets the descriptor shipped with syncdp (:func:`pinned_protocol`), with a log line
saying so. :func:`load_browser_protocol` is what a connection or a browser object calls.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import ssl
import tempfile
import threading
import warnings
import zlib
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from syncdp import discovery
from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.protocol.model import (
    PRODUCT_FIELD,
    CommandSender,
    Protocol,
    ProtocolCacheWarning,
    ProtocolUnavailableError,
    cache_key,
    decode_descriptor,
)

__all__ = [
    "PINNED_PRODUCT",
    "CACHE_ENV",
    "load_protocol",
    "load_browser_protocol",
    "load_transport_protocol",
    "protocol_for_version",
    "pinned_protocol",
    "clear_protocol_cache",
]

logger = logging.getLogger(__name__)

PINNED_PRODUCT = "Chrome/156.0.8078.108"
"""The browser whose ``/json/protocol`` is shipped as ``syncdp/data/protocol.json.gz``."""

CACHE_ENV = "SYNCDP_PROTOCOL_CACHE"
"""Environment variable naming the on-disk protocol cache directory (``cache_dir=`` wins)."""

# syncdp/data/protocol.json.gz (this file is syncdp/protocol/loader.py).
_PINNED_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "protocol.json.gz"
)

_memory_cache: Dict[str, Protocol] = {}
_key_locks: Dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()
_pinned: List[Protocol] = []


def clear_protocol_cache() -> None:
    """Forget every protocol held in memory (the disk cache is left alone)."""
    with _cache_lock:
        _memory_cache.clear()
        _key_locks.clear()


def pinned_protocol() -> Protocol:
    """The protocol descriptor shipped with syncdp (:data:`PINNED_PRODUCT`), parsed once.

    Raises:
        OSError: the package data file is missing.
        ValueError: it is corrupt.
    """
    if _pinned:
        return _pinned[0]
    with _cache_lock:
        if not _pinned:
            with open(_PINNED_PATH, "rb") as fh:
                descriptor = decode_descriptor(fh.read())
            _pinned.append(
                Protocol(
                    descriptor,
                    product=descriptor.get(PRODUCT_FIELD) or PINNED_PRODUCT,
                    source="pinned (%s)" % _PINNED_PATH,
                )
            )
    return _pinned[0]


def load_browser_protocol(
    endpoint: Union[int, str],
    send: CommandSender,
    *,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 10.0,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Protocol:
    """The protocol of the browser that ``send`` talks to at ``endpoint``: one loader for
    every connection and browser object.

    :func:`load_protocol` with the browser's version asked over the connection when the
    endpoint is a ``ws(s)://`` URL: a remote service that has no HTTP discovery then still
    finds its own protocol in the caches (and, failing that, gets the pinned one).

    Args:
        endpoint: the port or URL the connection was made to (a connection without one,
            a pipe: :func:`load_transport_protocol`).
        send: sends a command on that connection (``Browser.getVersion``, for a websocket
            URL only), as :class:`CommandSender`.
        headers: HTTP headers for the discovery requests (with the URL's query string).
        timeout: seconds per HTTP request and for the ``Browser.getVersion`` answer.
        ssl_context: TLS settings for an ``https://`` endpoint.

    Raises:
        ProtocolUnavailableError: as for :func:`load_protocol`.
        SyncdpError: ``Browser.getVersion`` failed (a connection or command error).
        InvalidCommand: ``endpoint`` is not a port or a URL.
    """
    version = None
    if isinstance(endpoint, str) and endpoint.lower().startswith(("ws://", "wss://")):
        version = send("Browser.getVersion", None, timeout)  # keys the caches without HTTP
    return load_protocol(endpoint, headers=headers, timeout=timeout, version=version, ssl_context=ssl_context)


def load_transport_protocol(send: CommandSender, *, timeout: float = 10.0) -> Protocol:
    """The protocol of the browser that ``send`` talks to over a wire without HTTP discovery
    (``--remote-debugging-pipe``, a recording): ``Browser.getVersion``, then
    :func:`protocol_for_version`. Never makes an HTTP request.

    Raises:
        SyncdpError: ``Browser.getVersion`` failed (a connection or command error).
        ProtocolUnavailableError: the pinned descriptor is unreadable.
    """
    return protocol_for_version(send("Browser.getVersion", None, timeout))


def protocol_for_version(
    version: Mapping[str, Any], cache_dir: Optional[str] = None
) -> Protocol:
    """The protocol of a browser reached without HTTP discovery (``--remote-debugging-pipe``).

    From the memory cache, else the disk cache (``cache_dir``, default
    ``$SYNCDP_PROTOCOL_CACHE``), else the pinned descriptor (logged, as for a ``ws://``
    endpoint without ``/json/protocol``).

    Args:
        version: the result of ``Browser.getVersion`` (it keys the caches).
        cache_dir: on-disk cache directory.
    """
    key = cache_key(version)
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if key is not None:
        with _cache_lock:
            cached = _memory_cache.get(key)
        if cached is None and cache_dir:
            cached = _disk_load(cache_dir, key)
            if cached is not None:
                with _cache_lock:
                    cached = _memory_cache.setdefault(key, cached)
        if cached is not None:
            return cached
    return _pinned_fallback("a connection without HTTP discovery", "no HTTP endpoint", key)


def load_protocol(
    endpoint: Union[int, str],
    *,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 10.0,
    cache_dir: Optional[str] = None,
    version: Optional[Mapping[str, Any]] = None,
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Protocol:
    """The protocol of the browser at ``endpoint``, from its ``/json/protocol``, cached.

    One download per browser version and process: later calls (any tab, any connection to
    the same browser build) get the same :class:`Protocol` from memory. With a cache
    directory, a new process reads it from disk instead of downloading it.

    Args:
        endpoint: a port on 127.0.0.1, ``"http(s)://host:port"``, or a ``"ws(s)://..."``
            websocket URL (its ``host:port`` is tried over HTTP; with no HTTP endpoint there,
            the pinned descriptor is used and a log line says so).
        headers: HTTP headers for the discovery requests (remote services' auth tokens).
        timeout: seconds per HTTP request.
        cache_dir: on-disk cache directory; default ``$SYNCDP_PROTOCOL_CACHE`` (none if
            unset). Files are ``protocol-<product>_<version>.json.gz``; a corrupt one is
            ignored with a :class:`ProtocolCacheWarning` and rewritten.
        version: the browser's version when already known: ``/json/version`` or the result
            of ``Browser.getVersion``. Saves a request, and lets a ``ws://``-only endpoint
            find its own protocol in the caches.

    Raises:
        ProtocolUnavailableError: (a :class:`~syncdp.exceptions.DiscoveryError`) the
            descriptor cannot be had from an HTTP endpoint or port.
        InvalidCommand: ``endpoint`` is not a port or a URL.
    """
    source = _Source(endpoint, headers, timeout, ssl_context)
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if version is None:
        try:
            version = source.version()
        except SyncdpError as exc:
            if source.ws_only:
                return _pinned_fallback(source.where, exc, None)
            raise ProtocolUnavailableError(
                "cannot load the CDP protocol from %s: %s" % (source.where, exc)
            ) from exc
    key = cache_key(version)
    if key is None:
        return source.fetch(None, None)
    with _cache_lock:
        cached = _memory_cache.get(key)
        if cached is not None:
            return cached
        lock = _key_locks.setdefault(key, threading.Lock())
    # One download per key even when many tabs ask at once; other keys are not held up.
    with lock:
        cached = _memory_cache.get(key)
        if cached is not None:
            return cached
        protocol = _disk_load(cache_dir, key) if cache_dir else None
        if protocol is None:
            protocol = source.fetch(key, cache_dir)
            if protocol.source.startswith("pinned"):
                return protocol  # not this browser's own: do not cache it under its key
        with _cache_lock:
            return _memory_cache.setdefault(key, protocol)


class _Source:
    """Where a descriptor is downloaded from: an endpoint's HTTP discovery."""

    def __init__(
        self,
        endpoint: Union[int, str],
        headers: Optional[Mapping[str, str]],
        timeout: float,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.host, self.port, self.scheme, self.ws_only = _parse_endpoint(endpoint)
        self.where = "%s://%s:%s" % (self.scheme, self.host, self.port)
        # A gateway's token may be in the query string, as for the connection's discovery.
        self.http: Dict[str, Any] = {
            "timeout": timeout,
            "headers": headers,
            "scheme": self.scheme,
            "query": urlsplit(endpoint).query if isinstance(endpoint, str) else "",
            "ssl_context": ssl_context,
        }

    def version(self) -> Dict[str, Any]:
        """``/json/version``."""
        return discovery.get_version(self.port, self.host.strip("[]"), **self.http)

    def fetch(self, key: Optional[str], cache_dir: Optional[str]) -> Protocol:
        """``/json/protocol`` as a :class:`Protocol` (stored on disk with a key and a
        directory), or the pinned one for a ``ws://`` endpoint without it."""
        try:
            descriptor = discovery.get_protocol(self.port, self.host.strip("[]"), **self.http)
            protocol = Protocol(
                descriptor,
                product=key.partition("|")[0] if key else None,
                source="%s/json/protocol" % self.where,
            )
        except (SyncdpError, ValueError) as exc:
            if self.ws_only:
                return _pinned_fallback(self.where, exc, key)
            raise ProtocolUnavailableError(
                "cannot load the CDP protocol from %s/json/protocol: %s" % (self.where, exc)
            ) from exc
        logger.debug("protocol of %s loaded from %s", key or "an unknown browser", self.where)
        if cache_dir and key:
            _disk_store(cache_dir, key, descriptor)
        return protocol


def _parse_endpoint(endpoint: Union[int, str]) -> Tuple[str, int, str, bool]:
    """``(host, port, http scheme, is a websocket URL)`` of an endpoint."""
    if isinstance(endpoint, bool) or not isinstance(endpoint, (int, str)):
        raise InvalidCommand("endpoint must be a port or a URL, got %r" % (endpoint,))
    if isinstance(endpoint, int) or endpoint.isdigit():
        return discovery.DEFAULT_HOST, int(endpoint), "http", False
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise InvalidCommand(
            "endpoint must be a port, http(s)://host:port or ws(s)://host:port/..., got %r"
            % (endpoint,)
        )
    secure = scheme in ("https", "wss")
    port = parts.port or (443 if secure else 80)
    host = parts.hostname
    if ":" in host:
        host = "[%s]" % host
    return host, port, "https" if secure else "http", scheme in ("ws", "wss")


def _pinned_fallback(where: str, reason: object, key: Optional[str]) -> Protocol:
    try:
        protocol = pinned_protocol()
    except (OSError, ValueError) as exc:
        raise ProtocolUnavailableError(
            "no protocol descriptor at %s (%s) and the pinned one is unreadable: %s"
            % (where, reason, exc)
        ) from exc
    browser = key.partition("|")[0] if key else None
    if browser and browser == protocol.product:
        logger.info(
            "no /json/protocol at %s (%s): using the pinned protocol of %s (same version)",
            where,
            reason,
            protocol.product,
        )
    else:
        logger.warning(
            "no /json/protocol at %s (%s): using the pinned protocol of %s shipped with "
            "syncdp; the browser is %s, so validation may miss or reject newer names",
            where,
            reason,
            protocol.product,
            browser or "of unknown version",
        )
    return protocol


# -- the disk cache --------------------------------------------------------------------------


def _cache_file(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, "protocol-%s.json.gz" % re.sub(r"[^A-Za-z0-9.]+", "_", key))


def _disk_load(cache_dir: str, key: str) -> Optional[Protocol]:
    path = _cache_file(cache_dir, key)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read the protocol cache file %s: %s", path, exc)
        return None
    try:
        descriptor = decode_descriptor(data)
        protocol = Protocol(descriptor, product=key.partition("|")[0], source=path)
    except (ValueError, EOFError, zlib.error, gzip.BadGzipFile, KeyError, TypeError) as exc:
        warnings.warn(
            ProtocolCacheWarning(
                "ignoring the corrupt protocol cache file %s (%s: %s); it will be rewritten"
                % (path, type(exc).__name__, exc)
            ),
            stacklevel=3,
        )
        return None
    logger.debug("protocol of %s read from %s", key, path)
    return protocol


def _disk_store(cache_dir: str, key: str, descriptor: Mapping[str, Any]) -> None:
    path = _cache_file(cache_dir, key)
    data = dict(descriptor)
    data[PRODUCT_FIELD] = key.partition("|")[0]
    try:
        os.makedirs(cache_dir, exist_ok=True)
        # Write then rename: a concurrent reader sees the old file or the new one, never half.
        fd, tmp = tempfile.mkstemp(prefix=".protocol-", suffix=".tmp", dir=cache_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(gzip.compress(json.dumps(data, separators=(",", ":")).encode("utf-8")))
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        logger.warning("cannot write the protocol cache file %s: %s", path, exc)
        return
    logger.debug("protocol of %s cached in %s", key, path)
