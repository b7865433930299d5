"""The protocol descriptor as an object: look-ups, suggestions, validation, documentation.

:class:`Protocol` indexes the JSON of ``/json/protocol`` (domains, commands, events, types)
and answers the questions the rest of :mod:`syncdp.protocol` asks: does ``Page.navigate``
exist and what was meant instead, are these keyword arguments valid for it
(:mod:`~syncdp.protocol.validation`), what does ``help()`` say about it
(:mod:`~syncdp.protocol.docs`). It knows nothing of sending, loading or caching.
"""

from __future__ import annotations

import gzip
import inspect
import json
import os
import sys
import threading
import warnings
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
)
from typing import Protocol as _TypingProtocol

from syncdp.exceptions import DiscoveryError, InvalidCommand
from syncdp.protocol import docs
from syncdp.protocol._text import close_matches, did_you_mean
from syncdp.protocol.validation import Check, Validator

__all__ = [
    "Protocol",
    "CommandSender",
    "SendFn",
    "cache_key",
    "check_event_name",
    "decode_descriptor",
    "PRODUCT_FIELD",
    "ProtocolUnavailableError",
    "UnknownMemberError",
    "UnknownEventWarning",
    "ProtocolCacheWarning",
]

_T = TypeVar("_T")

PRODUCT_FIELD = "x-syncdp-product"
"""Descriptors syncdp writes (the pinned file, the disk cache) record the product they came
from under this extra top-level key; Chromium's own has only ``version`` and ``domains``."""


class CommandSender(_TypingProtocol):
    """What sends a command for the protocol layer: ``send(method, params, timeout) -> result``.

    Called positionally; ``params`` is ``None`` when there are none and ``timeout`` is in
    seconds (``None``: wait forever). Returns the command's ``result`` dict and raises
    :class:`~syncdp.exceptions.CommandError` for an error response, like
    ``ConnectionHandler.send``; e.g. ``lambda m, p, t: conn.send(m, p, timeout=t)``. A
    duck type: the protocol layer never imports the connection layer.
    """

    def __call__(
        self, method: str, params: Optional[Dict[str, Any]], timeout: Optional[float], /
    ) -> Dict[str, Any]:
        """Send ``method`` and return its result."""


SendFn = CommandSender
"""The former name of :class:`CommandSender`."""


# -- errors and warnings ---------------------------------------------------------------------


class ProtocolUnavailableError(DiscoveryError):
    """The browser's protocol descriptor could not be obtained (or is not a descriptor)."""


class UnknownMemberError(InvalidCommand, AttributeError):
    """``cdp.<Domain>`` or ``cdp.<Domain>.<member>`` names nothing in the protocol.

    Also an ``AttributeError``, so ``hasattr`` / ``getattr(..., default)`` and tab completion
    work as usual.

    Attributes:
        suggestions: the closest valid names, best first (possibly empty).
    """

    def __init__(self, message: str, suggestions: Iterable[str] = ()) -> None:
        self.suggestions = list(suggestions)
        super().__init__(message)


class UnknownEventWarning(UserWarning):
    """A callback or wait was registered for an event the browser's protocol does not have."""


class ProtocolCacheWarning(UserWarning):
    """An on-disk protocol cache file was unreadable or corrupt and has been ignored."""


def cache_key(version: Mapping[str, Any]) -> Optional[str]:
    """The cache key of a browser: ``"<product>|<protocol version>"``, or ``None``.

    Args:
        version: ``/json/version`` (``Browser``, ``Protocol-Version``) or the result of
            ``Browser.getVersion`` (``product``, ``protocolVersion``). A ``Headless`` prefix
            of the product is dropped: headless and headful builds speak the same protocol.
    """
    product = version.get("Browser") or version.get("product")
    if not isinstance(product, str) or not product:
        return None
    if product.startswith("Headless"):
        product = product[len("Headless") :]
    proto = version.get("Protocol-Version") or version.get("protocolVersion") or "?"
    return "%s|%s" % (product, proto)


def decode_descriptor(data: bytes) -> Dict[str, Any]:
    """Decode a descriptor saved as JSON or gzipped JSON.

    Raises:
        ValueError: not (gzipped) JSON, or no ``domains`` list in it.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    descriptor = json.loads(data.decode("utf-8"))
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("domains"), list):
        raise ValueError("not a CDP protocol descriptor: no 'domains' list")
    return descriptor


# -- the descriptor --------------------------------------------------------------------------


class Protocol:
    """A parsed CDP protocol descriptor (the JSON of ``/json/protocol``).

    Args:
        descriptor: the decoded JSON: ``{"version": {...}, "domains": [...]}``.
        product: the browser it came from (``"Chrome/156.0.8078.108"``), if known.
        source: where it came from, for messages (a URL, a file, ``"pinned"``).

    Attributes:
        version: the protocol version, ``"major.minor"`` (``"1.3"``).
        product: the browser product, or ``None`` when unknown.
        source: where the descriptor was read from.
        descriptor: the decoded JSON, as given (do not modify).
        domains: domain name -> the domain's JSON, in descriptor order.
        command_names: every ``"Domain.command"``.
        event_names: every ``"Domain.event"``.
        timeout_methods: the commands with a ``timeout`` parameter of their own
            (``Runtime.evaluate``...): for them, syncdp's timeout is only ``_timeout=``.

    Raises:
        ValueError: ``descriptor`` is not a protocol descriptor.
    """

    def __init__(
        self,
        descriptor: Mapping[str, Any],
        *,
        product: Optional[str] = None,
        source: str = "",
    ) -> None:
        domains = descriptor.get("domains") if isinstance(descriptor, Mapping) else None
        if not isinstance(domains, list):
            raise ValueError("not a CDP protocol descriptor: no 'domains' list")
        self.descriptor: Dict[str, Any] = dict(descriptor)
        version = descriptor.get("version")
        if isinstance(version, Mapping):
            self.version = "%s.%s" % (version.get("major", "?"), version.get("minor", "?"))
        else:
            self.version = "unknown"
        stored = descriptor.get(PRODUCT_FIELD)
        self.product: Optional[str] = product or (stored if isinstance(stored, str) else None)
        self.source = source
        self.domains: Dict[str, Dict[str, Any]] = {}
        self._commands: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        self._events: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        self._types: Dict[str, Dict[str, Any]] = {}
        self._members: Dict[str, Tuple[str, ...]] = {}
        try:
            for domain in domains:
                self._index(domain)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("malformed CDP protocol descriptor: %r" % (exc,)) from exc
        self.command_names: FrozenSet[str] = frozenset(self._commands)
        self.event_names: FrozenSet[str] = frozenset(self._events)
        self.timeout_methods: FrozenSet[str] = frozenset(
            m
            for m, (_, c) in self._commands.items()
            if any(p.get("name") == "timeout" for p in c.get("parameters") or ())
        )
        self._lock = threading.Lock()
        self._validators: Dict[str, Validator] = {}
        self._memo: Dict[Hashable, Any] = {}

    def _index(self, domain: Any) -> None:
        if not isinstance(domain, dict) or not isinstance(domain.get("domain"), str):
            raise ValueError("not a CDP protocol descriptor: a domain has no 'domain' name")
        name = domain["domain"]
        self.domains[name] = domain
        members: List[str] = []
        for command in domain.get("commands") or ():
            self._commands["%s.%s" % (name, command["name"])] = (domain, command)
            members.append(command["name"])
        for event in domain.get("events") or ():
            self._events["%s.%s" % (name, event["name"])] = (domain, event)
            if event["name"] not in members:
                members.append(event["name"])
        for type_ in domain.get("types") or ():
            self._types["%s.%s" % (name, type_["id"])] = type_
        self._members[name] = tuple(sorted(members))

    @classmethod
    def from_file(cls, path: str) -> "Protocol":
        """Read a descriptor saved as JSON (``.json``) or gzipped JSON (``.json.gz``).

        Raises:
            OSError: the file cannot be read.
            ValueError: it is not a (gzipped) JSON protocol descriptor.
        """
        with open(path, "rb") as fh:
            data = fh.read()
        return cls(decode_descriptor(data), source=path)

    def __repr__(self) -> str:
        return "<Protocol %s %s: %d domains, %d commands, %d events (from %s)>" % (
            self.product or "unknown browser",
            self.version,
            len(self.domains),
            len(self._commands),
            len(self._events),
            self.source or "memory",
        )

    @property
    def key(self) -> Optional[str]:
        """The cache key (see :func:`cache_key`), or ``None`` when the product is unknown."""
        if not self.product:
            return None
        return cache_key({"product": self.product, "protocolVersion": self.version})

    def memo(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """``build()``, called once per protocol and ``key`` (thread-safe), then remembered.

        What lets every :class:`~syncdp.protocol.CDP` over this protocol share one class per
        domain (and its validators and docstrings).
        """
        try:
            value: _T = self._memo[key]
            return value
        except KeyError:
            pass
        with self._lock:
            if key not in self._memo:
                self._memo[key] = build()
            value = self._memo[key]
        return value

    # -- lookups ----------------------------------------------------------------------------

    def get_domain(self, name: str) -> Optional[Dict[str, Any]]:
        """The JSON of domain ``name`` (``"Page"``), or ``None``."""
        return self.domains.get(name)

    def get_command(self, method: str) -> Optional[Dict[str, Any]]:
        """The JSON of command ``method`` (``"Page.navigate"``), or ``None``."""
        found = self._commands.get(method)
        return found[1] if found is not None else None

    def get_event(self, name: str) -> Optional[Dict[str, Any]]:
        """The JSON of event ``name`` (``"Page.loadEventFired"``), or ``None``."""
        found = self._events.get(name)
        return found[1] if found is not None else None

    def get_type(self, ref: str, domain: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The JSON of type ``ref`` (``"Page.FrameId"``, or ``"FrameId"`` with ``domain``)."""
        if "." not in ref and domain:
            ref = "%s.%s" % (domain, ref)
        return self._types.get(ref)

    def members(self, domain: str) -> Tuple[str, ...]:
        """The command and event names of ``domain``, sorted (empty for an unknown domain)."""
        return self._members.get(domain, ())

    def is_deprecated(self, method: str) -> bool:
        """Whether command or event ``method`` (or its whole domain) is deprecated."""
        found = self._commands.get(method) or self._events.get(method)
        if found is None:
            return False
        return bool(found[0].get("deprecated") or found[1].get("deprecated"))

    def suggest(self, name: str, kind: str = "any", n: int = 3) -> List[str]:
        """The closest valid names to ``name``, best first.

        Args:
            name: a domain (``"Pgae"``) or a qualified name (``"Page.navigat"``).
            kind: ``"domain"``, ``"command"``, ``"event"`` or ``"any"``.
            n: at most this many.
        """
        if kind == "domain":
            return close_matches(name, self.domains, n=n)
        pool: List[str] = []
        if kind in ("command", "any"):
            pool.extend(self._commands)
        if kind in ("event", "any"):
            pool.extend(self._events)
        domain, _, member = name.partition(".")
        # Same member name in another domain ("Page.evaluate" -> "Runtime.evaluate").
        out = [c for c in pool if member and c.partition(".")[2] == member and c != name]
        if domain in self.domains:
            out = out + close_matches(name, [c for c in pool if c.startswith(domain + ".")], n=n)
        else:
            # A misspelt domain: the spelling matters more than the member.
            out = close_matches(name, pool, n=n) + out
        result: List[str] = []
        for cand in out:
            if cand not in result and cand != name:
                result.append(cand)
        return result[:n]

    def unknown_message(self, name: str, kind: str) -> str:
        """Why ``name`` is not a ``kind`` (``"command"``, ``"event"``, ``"domain"``, ``"any"``)
        of this protocol, with the closest valid names."""
        domain = name.partition(".")[0]
        if "." in name and domain not in self.domains:
            what = "no domain %r in the protocol" % domain
            suggestions = self.suggest(name, kind) or close_matches(domain, self.domains)
        else:
            what = "no %s %r in the protocol" % (kind if kind != "any" else "command or event", name)
            suggestions = self.suggest(name, kind)
            if kind != "any" and (name in self._events or name in self._commands):
                other = "an event" if kind == "command" else "a command"
                what += " (%s is %s)" % (name, other)
        return "%s of %s%s" % (what, self.product or "the browser", did_you_mean(suggestions))

    # -- validation -------------------------------------------------------------------------

    def validate(
        self, method: str, params: Optional[Mapping[str, Any]] = None
    ) -> Optional[Dict[str, Any]]:
        """Check a command as :class:`~syncdp.protocol.CDP` would, without sending it.

        Returns:
            The params to send (``None`` when there are none; optional ``None`` values are
            left out).

        Raises:
            InvalidCommand: unknown method or parameter, missing required parameter, wrong
                type (with the closest valid names).
        """
        validator = self.validator(method)
        if params:
            return validator(dict(params)) or None
        validator.empty()
        return None

    def validator(self, method: str) -> Validator:
        """The (cached) validator of command ``method``'s keyword arguments.

        Raises:
            InvalidCommand: ``method`` is not a command of this protocol.
        """
        validator = self._validators.get(method)
        if validator is not None:
            return validator
        domain, command = self._command(method)
        checks: Dict[str, Check] = {}
        for param in command.get("parameters") or ():
            checks[param["name"]] = self._check_for(domain["domain"], param, param["name"])
        validator = Validator(method, checks)
        self._validators[method] = validator  # a benign race: equal validators
        return validator

    def _command(self, method: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        found = self._commands.get(method)
        if found is None:
            raise InvalidCommand(self.unknown_message(method, "command"))
        return found

    def _check_for(self, domain: str, spec: Mapping[str, Any], name: str) -> Check:
        optional = bool(spec.get("optional"))
        deprecated = bool(spec.get("deprecated"))
        ref = spec.get("$ref")
        typename = None
        base: Mapping[str, Any] = spec
        base_domain = domain
        if isinstance(ref, str):
            typename = ref if "." in ref else "%s.%s" % (domain, ref)
            target = self._types.get(typename)
            if target is None:
                return Check(name, "any", optional=optional, deprecated=deprecated, typename=typename)
            base = target
            base_domain = typename.partition(".")[0]
        jtype = str(base.get("type", "any"))
        items = None
        if jtype == "array" and isinstance(base.get("items"), Mapping):
            items = self._check_for(base_domain, base["items"], name + "[]")
        enum = base.get("enum") if jtype == "string" else None
        return Check(
            name,
            jtype,
            optional=optional,
            deprecated=deprecated,
            enum=enum if isinstance(enum, list) else None,
            items=items,
            typename=typename,
        )

    # -- documentation (syncdp.protocol.docs writes it) -------------------------------------

    def command_doc(self, method: str) -> str:
        """The docstring of command ``method``: description, flags, args, return fields."""
        domain, command = self._command(method)
        return docs.command_doc(
            self._types, method, domain, command, protocol_timeout=method in self.timeout_methods
        )

    def event_doc(self, name: str) -> str:
        """The docstring of event ``name``: description, flags and parameters."""
        found = self._events.get(name)
        if found is None:
            raise InvalidCommand(self.unknown_message(name, "event"))
        return docs.event_doc(self._types, name, found[0], found[1])

    def domain_doc(self, name: str) -> str:
        """The docstring of domain ``name``: description, flags, dependencies, members."""
        domain = self.domains.get(name)
        if domain is None:
            raise InvalidCommand(self.unknown_message(name, "domain"))
        return docs.domain_doc(domain, self.product, self.version)

    def signature(self, method: str) -> inspect.Signature:
        """The :class:`inspect.Signature` ``help()`` shows for command ``method``."""
        domain, command = self._command(method)
        return docs.signature(
            domain["domain"], command, protocol_timeout=method in self.timeout_methods
        )


# -- events ----------------------------------------------------------------------------------


def check_event_name(protocol: Protocol, name: str, *, stacklevel: Optional[int] = None) -> None:
    """Warn with :class:`UnknownEventWarning` when ``name`` is not an event of ``protocol``.

    Names outside the protocol's domains (``"Syncdp.disconnected"``, a test's ``"X.y"``) do
    not warn, unless the domain is a near miss of a real one whose event exists
    (``"Pgae.loadEventFired"``). A command name warns too (callbacks never see commands).

    Args:
        protocol: the browser's protocol.
        name: the event name to check.
        stacklevel: as for ``warnings.warn`` called here. By default the warning blames the
            first caller outside the syncdp package (the user's ``tab.on(...)`` line, however
            many syncdp methods it went through).
    """
    if name in protocol.event_names:
        return
    domain, dot, member = name.partition(".")
    if not dot:
        return
    if domain not in protocol.domains:
        near = close_matches(domain, protocol.domains, n=1, cutoff=0.75)
        if not near or "%s.%s" % (near[0], member) not in protocol.event_names:
            return
        suggestions = ["%s.%s" % (near[0], member)]
    else:
        suggestions = protocol.suggest(name, "event")
    what = "a command, not an event" if name in protocol.command_names else "not an event"
    warnings.warn(
        UnknownEventWarning(
            "%r is %s of %s, so callbacks and waits for it never fire%s"
            % (name, what, protocol.product or "the browser's protocol", did_you_mean(suggestions))
        ),
        stacklevel=stacklevel if stacklevel is not None else _outside_syncdp(),
    )


# The syncdp package's directory (this file is syncdp/protocol/model.py).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _outside_syncdp() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in our caller) of the first frame outside
    the syncdp package."""
    frame = sys._getframe(2)  # the caller of the function that calls warnings.warn
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
