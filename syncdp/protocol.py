"""The connected browser's own protocol: validated, documented, tab-completed CDP calls.

Chromium describes every domain, command, event and type it speaks at ``/json/protocol``.
This module reads that descriptor and turns it into Python objects::

    from syncdp.protocol import CDP, load_protocol

    protocol = load_protocol(9222)              # or "http://host:port", "ws://host:port/..."
    cdp = CDP(lambda method, params, timeout: conn.send(method, params, timeout=timeout),
              protocol)
    cdp.Page.navigate(url="https://example.org")          # -> the result dict
    cdp.Runtime.evaluate(expression="1 + 1", returnByValue=True)
    conn.register_callback(cdp.Page.loadEventFired, on_load)  # a str: "Page.loadEventFired"
    help(cdp.Page.navigate)                     # the protocol's description, params, returns

Calls
    Keyword arguments are the protocol's parameter names, unchanged (camelCase). ``None`` for
    an optional parameter means "leave it out" (Chromium rejects an explicit ``null``). A
    Python keyword used as a parameter name is written with a trailing underscore
    (``from_=``). Calls return the command's ``result`` dict and raise
    :class:`~syncdp.exceptions.CommandError` for a CDP error response, like ``send``.

Timeouts
    ``_timeout=`` is always syncdp's own: seconds to wait for the answer (``None``: forever),
    never sent. ``timeout=`` is accepted as a shorter spelling of it, *except* for the few
    commands whose protocol has a real ``timeout`` parameter (``Runtime.evaluate``,
    ``Debugger.evaluateOnCallFrame``): there ``timeout=`` is the protocol's parameter and is
    sent, and syncdp's own is only ``_timeout=``. Without either, the ``default_timeout`` given
    to :class:`CDP` applies.

Validation (before anything is sent)
    An unknown domain, command, event or parameter, a missing required parameter, or a value
    of the wrong JSON type (string / integer / number / boolean / object / array, a ``$ref``
    to an object type wants a ``dict``, enums are checked, array items too) raises
    :class:`~syncdp.exceptions.InvalidCommand` naming the problem and the closest valid names
    ("did you mean Page.navigate?"). Unknown attributes raise :class:`UnknownMemberError`,
    which is also an ``AttributeError`` so ``hasattr`` and tab completion behave. A command
    (or parameter) the protocol marks deprecated warns with ``DeprecationWarning``.

Events
    ``cdp.Page.loadEventFired`` is an :class:`EventName`: a ``str`` equal to
    ``"Page.loadEventFired"``, usable wherever an event name is, whose ``__doc__`` lists the
    event's parameters (``help()`` treats any string as a topic name, so read ``__doc__``).
    :func:`check_event_name` warns with :class:`UnknownEventWarning` when a name is not an
    event of the protocol (names outside its domains, like ``Syncdp.disconnected``, pass).

Loading
    :func:`load_protocol` fetches ``/json/protocol`` once per browser version (the
    ``Browser`` and ``Protocol-Version`` of ``/json/version``, or ``Browser.getVersion``'s
    ``product``/``protocolVersion`` when passed as ``version=``) and keeps it in memory and,
    with ``cache_dir=`` or the ``SYNCDP_PROTOCOL_CACHE`` environment variable, on disk. A
    ``ws://`` endpoint without an HTTP discovery endpoint falls back to
    :func:`pinned_protocol`, the descriptor shipped with syncdp (logged). When :class:`CDP`'s
    protocol provider fails, calls are sent unvalidated ("plain sending") and a warning is
    logged once.

Cost
    Importing :mod:`syncdp` does not import this module. A domain's class (methods,
    signatures, docstrings, one cached validator per command) is built on first use and
    shared by every :class:`CDP` using the same :class:`Protocol`; a call then costs a walk
    over its keyword arguments: about half a microsecond more than calling ``send`` itself.

Static typing: see :mod:`syncdp.stubgen` and :mod:`syncdp.cdp_types`.
"""

from __future__ import annotations

import difflib
import gzip
import inspect
import json
import keyword
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
import zlib
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)
from urllib.parse import urlsplit

from syncdp import discovery
from syncdp.exceptions import DiscoveryError, InvalidCommand, SyncdpError

__all__ = [
    "Protocol",
    "CDP",
    "EventName",
    "load_protocol",
    "pinned_protocol",
    "clear_protocol_cache",
    "check_event_name",
    "protocol_of",
    "cache_key",
    "ProtocolUnavailableError",
    "UnknownMemberError",
    "UnknownEventWarning",
    "ProtocolCacheWarning",
    "PINNED_PRODUCT",
    "CACHE_ENV",
]

logger = logging.getLogger(__name__)

PINNED_PRODUCT = "Chrome/156.0.8078.108"
"""The browser whose ``/json/protocol`` is shipped as ``syncdp/data/protocol.json.gz``."""

CACHE_ENV = "SYNCDP_PROTOCOL_CACHE"
"""Environment variable naming the on-disk protocol cache directory (``cache_dir=`` wins)."""

_PINNED_RESOURCE = ("data", "protocol.json.gz")
# Descriptors syncdp writes (pinned file, disk cache) record the product they came from under
# this extra top-level key; Chromium's own descriptor has only "version" and "domains".
_PRODUCT_FIELD = "x-syncdp-product"

SendFn = Callable[[str, Optional[Dict[str, Any]], Optional[float]], Dict[str, Any]]
"""``send(method, params, timeout) -> result``: what :class:`CDP` calls (positionally)."""

_UNSET: Any = object()

_JSON_TYPES: Dict[str, Tuple[type, ...]] = {
    "string": (str,),
    "binary": (str,),
    "integer": (int, float),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
}
_FAST_TYPES: Dict[str, FrozenSet[type]] = {
    "string": frozenset([str]),
    "binary": frozenset([str]),
    "integer": frozenset([int]),
    "number": frozenset([int, float]),
    "boolean": frozenset([bool]),
    "object": frozenset([dict]),
}
_PY_NAMES = {
    "string": "str",
    "binary": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "object": "dict",
    "array": "list",
    "any": "Any",
}
_ARTICLE = {
    "string": "a string",
    "binary": "a base64 string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object (dict)",
    "array": "an array (list)",
}
_ENUM_DOC_LIMIT = 12


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


# -- helpers ---------------------------------------------------------------------------------


def _did_you_mean(suggestions: List[str]) -> str:
    if not suggestions:
        return ""
    if len(suggestions) == 1:
        return "; did you mean %s?" % suggestions[0]
    return "; did you mean %s or %s?" % (", ".join(suggestions[:-1]), suggestions[-1])


def _close(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> List[str]:
    """difflib's closest matches, with exact case-insensitive matches first."""
    pool = list(candidates)
    lowered = word.lower()
    exact = [c for c in pool if c.lower() == lowered and c != word]
    fuzzy = difflib.get_close_matches(word, pool, n=n, cutoff=cutoff)
    if not fuzzy:
        folded = {c.lower(): c for c in pool}
        fuzzy = [folded[c] for c in difflib.get_close_matches(lowered, folded, n=n, cutoff=cutoff)]
    out: List[str] = []
    for name in exact + fuzzy:
        if name not in out and name != word:
            out.append(name)
    return out[:n]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _indent(text: str, prefix: str) -> str:
    return "\n".join((prefix + line) if line.strip() else "" for line in text.splitlines())


def _flags(spec: Mapping[str, Any]) -> List[str]:
    flags = []
    if spec.get("experimental"):
        flags.append("experimental")
    if spec.get("deprecated"):
        flags.append("deprecated")
    return flags


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


# -- validation ------------------------------------------------------------------------------


class _Check:
    """How one parameter (or array item) is validated; built once per command."""

    __slots__ = (
        "name",
        "optional",
        "deprecated",
        "types",
        "nobool",
        "integral",
        "enum",
        "enum_order",
        "items",
        "fast",
        "label",
        "typename",
        "jtype",
    )

    def __init__(
        self,
        name: str,
        jtype: str,
        *,
        optional: bool = False,
        deprecated: bool = False,
        enum: Optional[Iterable[str]] = None,
        items: Optional["_Check"] = None,
        typename: Optional[str] = None,
    ) -> None:
        self.name = name
        self.jtype = jtype
        self.optional = optional
        self.deprecated = deprecated
        self.types: Optional[Tuple[type, ...]] = _JSON_TYPES.get(jtype)
        self.nobool = jtype in ("integer", "number")
        self.integral = jtype == "integer"
        self.enum_order: Tuple[str, ...] = tuple(enum) if enum is not None else ()
        self.enum: Optional[FrozenSet[str]] = frozenset(enum) if enum is not None else None
        self.items = items
        self.typename = typename
        # Exact classes accepted without any further look (the hot path); anything else,
        # including every enum, array and "any" value, goes through accepts().
        fast = _FAST_TYPES.get(jtype, frozenset())
        self.fast: FrozenSet[type] = frozenset() if (enum is not None or deprecated) else fast
        self.label = self._label()

    def _label(self) -> str:
        if self.jtype == "array":
            inner = self.items.label if self.items is not None else "any"
            text = "array of %s" % inner
        elif self.enum is not None:
            text = "%s enum" % self.jtype
        else:
            text = self.jtype
        if self.typename:
            text = "%s (%s)" % (self.typename, text)
        return text

    def accepts(self, value: Any) -> bool:
        types = self.types
        if types is None:
            return True  # "any", or a type this version of syncdp does not know
        probe: object = value  # isinstance() narrows this one, value stays Any
        if not isinstance(probe, types):
            return False
        if self.nobool and isinstance(value, bool):
            return False
        if self.integral and isinstance(value, float) and not value.is_integer():
            return False
        if self.enum is not None and value not in self.enum:
            return False
        items = self.items
        if items is not None:
            for item in value:
                if not items.accepts(item):
                    return False
        return True

    def ok(self, value: Any) -> bool:
        """accepts() minus the cases that need the slow path (a deprecation warning)."""
        return not self.deprecated and self.accepts(value)

    def expected(self) -> str:
        if self.enum is not None:
            values = self.enum_order
            shown = ", ".join(repr(v) for v in values[:_ENUM_DOC_LIMIT])
            if len(values) > _ENUM_DOC_LIMIT:
                shown += ", ... (%d values)" % len(values)
            return "one of %s%s" % (shown, " (%s)" % self.typename if self.typename else "")
        if self.jtype == "array" and self.items is not None:
            return "an array (list) of %s" % self.items.label
        what = _ARTICLE.get(self.jtype, self.jtype)
        if self.typename:
            what += " of type %s" % self.typename
        return what

    def explain(self, value: Any) -> str:
        """Why ``value`` is not accepted (``accepts(value)`` is False)."""
        got = "%s %s" % (type(value).__name__, _short_repr(value))
        if self.enum is not None and isinstance(value, str) and isinstance(value, self.types or ()):
            hint = _did_you_mean([repr(v) for v in _close(value, self.enum_order, n=1)])
            return "must be %s; got %r%s" % (self.expected(), value, hint)
        if self.items is not None and isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if not self.items.accepts(item):
                    return "must be %s; item %d %s" % (
                        self.expected(),
                        index,
                        self.items.explain(item).replace("must be", "should be", 1),
                    )
        if isinstance(value, bytes) and self.jtype in ("string", "binary"):
            return "must be %s, got bytes (base64-encode binary data first)" % self.expected()
        return "must be %s, got %s" % (self.expected(), got)


class _Validator:
    """Validates the keyword arguments of one command; cached per protocol and method."""

    __slots__ = ("method", "checks", "required", "aliases", "_protocol")

    def __init__(self, protocol: "Protocol", method: str, checks: Dict[str, _Check]) -> None:
        self._protocol = protocol
        self.method = method
        self.checks = checks
        self.required: Tuple[str, ...] = tuple(n for n, c in checks.items() if not c.optional)
        self.aliases = {n + "_": n for n in checks if keyword.iskeyword(n)}

    def __call__(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """Return ``params`` (the same dict) if valid, or a cleaned copy; else raise."""
        checks = self.checks
        for name, value in params.items():
            check = checks.get(name)
            if check is None or (value.__class__ not in check.fast and not check.ok(value)):
                return self._slow(params)
        for name in self.required:
            if name not in params:
                return self._slow(params)
        return params

    def empty(self) -> None:
        """Validate a call without arguments."""
        if self.required:
            self._slow({})

    def _slow(self, params: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name, value in params.items():
            check = self.checks.get(name)
            if check is None:
                real = self.aliases.get(name)
                if real is None or real in params:
                    raise self._unknown(name)
                name, check = real, self.checks[real]
            if value is None:
                if check.optional:
                    continue  # None means "leave it out": CDP rejects an explicit null
                raise InvalidCommand(
                    "%s: required parameter %r must not be None (expected %s)"
                    % (self.method, name, check.expected())
                )
            if not check.accepts(value):
                raise InvalidCommand(
                    "%s: parameter %r %s" % (self.method, name, check.explain(value))
                )
            if check.deprecated:
                warnings.warn(
                    "%s: parameter %r is deprecated in the protocol" % (self.method, name),
                    DeprecationWarning,
                    stacklevel=4,
                )
            out[name] = value
        missing = [n for n in self.required if n not in out]
        if missing:
            details = ", ".join("%r (%s)" % (n, self.checks[n].label) for n in missing)
            raise InvalidCommand(
                "%s: missing required parameter%s %s"
                % (self.method, "s" if len(missing) > 1 else "", details)
            )
        return out

    def _unknown(self, name: str) -> InvalidCommand:
        names = list(self.checks)
        suggestions: List[str] = []
        camel = _camel(name)
        if camel != name and camel in self.checks:
            suggestions.append(camel)
        for cand in _close(name, names):
            if cand not in suggestions:
                suggestions.append(cand)
        quoted = [repr(s) for s in suggestions[:3]]
        if names:
            takes = "%s takes %s" % (self.method, ", ".join(names))
        else:
            takes = "%s takes no parameters" % self.method
        if name in ("timeout", "_timeout"):
            hint = ""
        else:
            hint = _did_you_mean(quoted)
        return InvalidCommand("%s: unknown parameter %r%s (%s)" % (self.method, name, hint, takes))


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
        stored = descriptor.get(_PRODUCT_FIELD)
        self.product: Optional[str] = product or (stored if isinstance(stored, str) else None)
        self.source = source
        self.domains: Dict[str, Dict[str, Any]] = {}
        self._commands: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        self._events: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        self._types: Dict[str, Dict[str, Any]] = {}
        self._members: Dict[str, Tuple[str, ...]] = {}
        try:
            self._index(domains)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("malformed CDP protocol descriptor: %r" % (exc,)) from exc
        self.command_names: FrozenSet[str] = frozenset(self._commands)
        """Every ``"Domain.command"``."""
        self.event_names: FrozenSet[str] = frozenset(self._events)
        """Every ``"Domain.event"``."""
        self._lock = threading.Lock()
        self._validators: Dict[str, _Validator] = {}
        self._classes: Dict[str, type] = {}
        self._timeout_methods: FrozenSet[str] = frozenset(
            m
            for m, (_, c) in self._commands.items()
            if any(p.get("name") == "timeout" for p in c.get("parameters") or ())
        )

    def _index(self, domains: List[Any]) -> None:
        for domain in domains:
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
        return cls(_decode_descriptor(data), source=path)

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
            return _close(name, self.domains, n=n)
        pool: List[str] = []
        if kind in ("command", "any"):
            pool.extend(self._commands)
        if kind in ("event", "any"):
            pool.extend(self._events)
        domain, _, member = name.partition(".")
        out: List[str] = []
        # Same member name in another domain ("Page.evaluate" -> "Runtime.evaluate").
        for cand in pool:
            if member and cand.partition(".")[2] == member and cand != name:
                out.append(cand)
        if domain in self.domains:
            local = [c for c in pool if c.startswith(domain + ".")]
            out = out + _close(name, local, n=n)
        else:
            # A misspelt domain: the spelling matters more than the member.
            out = _close(name, pool, n=n) + out
        result: List[str] = []
        for cand in out:
            if cand not in result and cand != name:
                result.append(cand)
        return result[:n]

    # -- validation -------------------------------------------------------------------------

    def validate(
        self, method: str, params: Optional[Mapping[str, Any]] = None
    ) -> Optional[Dict[str, Any]]:
        """Check a command as :class:`CDP` would, without sending it.

        Returns:
            The params to send (``None`` when there are none; optional ``None`` values are
            left out).

        Raises:
            InvalidCommand: unknown method or parameter, missing required parameter, wrong
                type (with the closest valid names).
        """
        validator = self._validator(method)
        if params:
            return validator(dict(params)) or None
        validator.empty()
        return None

    def _validator(self, method: str) -> _Validator:
        validator = self._validators.get(method)
        if validator is not None:
            return validator
        found = self._commands.get(method)
        if found is None:
            raise InvalidCommand(self._unknown_message(method, "command"))
        domain, command = found
        checks: Dict[str, _Check] = {}
        for param in command.get("parameters") or ():
            checks[param["name"]] = self._check_for(domain["domain"], param, param["name"])
        validator = _Validator(self, method, checks)
        self._validators[method] = validator  # a benign race: equal validators
        return validator

    def _check_for(self, domain: str, spec: Mapping[str, Any], name: str) -> _Check:
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
                return _Check(
                    name, "any", optional=optional, deprecated=deprecated, typename=typename
                )
            base = target
            base_domain = typename.partition(".")[0]
        jtype = str(base.get("type", "any"))
        items = None
        if jtype == "array" and isinstance(base.get("items"), Mapping):
            items = self._check_for(base_domain, base["items"], name + "[]")
        enum = base.get("enum") if jtype == "string" else None
        return _Check(
            name,
            jtype,
            optional=optional,
            deprecated=deprecated,
            enum=enum if isinstance(enum, list) else None,
            items=items,
            typename=typename,
        )

    def _unknown_message(self, name: str, kind: str) -> str:
        domain = name.partition(".")[0]
        if "." in name and domain not in self.domains:
            what = "no domain %r in the protocol" % domain
            suggestions = self.suggest(name, kind)
            if not suggestions:
                suggestions = _close(domain, self.domains)
        else:
            what = "no %s %r in the protocol" % (
                kind if kind != "any" else "command or event",
                name,
            )
            suggestions = self.suggest(name, kind)
            other = "event" if kind == "command" else "command"
            if kind != "any" and (name in self._events or name in self._commands):
                what += " (%s is %s %s)" % (name, "an" if other == "event" else "a", other)
        return "%s of %s%s" % (what, self.product or "the browser", _did_you_mean(suggestions))

    # -- documentation ----------------------------------------------------------------------

    def _type_text(self, domain: str, spec: Mapping[str, Any]) -> str:
        """``string``, ``Page.FrameId: string``, ``array of Network.Cookie: object``..."""
        ref = spec.get("$ref")
        if isinstance(ref, str):
            full = ref if "." in ref else "%s.%s" % (domain, ref)
            target = self._types.get(full)
            if target is None:
                return full
            inner = str(target.get("type", "any"))
            if inner == "array" and isinstance(target.get("items"), Mapping):
                inner = self._type_text(full.partition(".")[0], target["items"])
                inner = "array of %s" % inner
            elif target.get("enum"):
                inner = "string enum"
            return "%s: %s" % (full, inner)
        jtype = str(spec.get("type", "any"))
        if jtype == "array" and isinstance(spec.get("items"), Mapping):
            return "array of %s" % self._type_text(domain, spec["items"])
        if spec.get("enum"):
            return "string enum"
        return jtype

    def _enum_of(self, domain: str, spec: Mapping[str, Any]) -> Optional[List[str]]:
        ref = spec.get("$ref")
        if isinstance(ref, str):
            target = self._types.get(ref if "." in ref else "%s.%s" % (domain, ref))
            return list(target["enum"]) if target and target.get("enum") else None
        return list(spec["enum"]) if spec.get("enum") else None

    def _fields_doc(self, domain: str, fields: Iterable[Mapping[str, Any]]) -> List[str]:
        lines: List[str] = []
        for field in fields:
            what = [self._type_text(domain, field)]
            what.append("optional" if field.get("optional") else "required")
            what.extend(_flags(field))
            lines.append("    %s (%s)" % (field["name"], ", ".join(what)))
            description = str(field.get("description") or "").strip()
            if description:
                first, _, rest = description.partition("\n")
                lines[-1] += ": " + first
                if rest:
                    lines.append(_indent(rest, "        "))
            enum = self._enum_of(domain, field)
            if enum:
                shown = ", ".join(repr(v) for v in enum[:_ENUM_DOC_LIMIT])
                if len(enum) > _ENUM_DOC_LIMIT:
                    shown += ", ... (%d values)" % len(enum)
                lines.append("        One of: %s." % shown)
        return lines

    def _header(self, spec: Mapping[str, Any], domain: Mapping[str, Any]) -> List[str]:
        lines = []
        description = str(spec.get("description") or "").strip()
        if description:
            lines.extend(["", description])
        notes = []
        if spec.get("experimental") or domain.get("experimental"):
            notes.append("Experimental.")
        if spec.get("deprecated") or domain.get("deprecated"):
            notes.append("Deprecated.")
        if spec.get("redirect"):
            notes.append("Implemented by the %s domain." % spec["redirect"])
        if notes:
            lines.extend(["", " ".join(notes)])
        return lines

    def command_doc(self, method: str) -> str:
        """The docstring of command ``method``: description, flags, args, return fields."""
        found = self._commands.get(method)
        if found is None:
            raise InvalidCommand(self._unknown_message(method, "command"))
        domain, command = found
        name = domain["domain"]
        lines = ["%s (CDP command)" % method]
        lines.extend(self._header(command, domain))
        params = command.get("parameters") or []
        lines.extend(["", "Args:"])
        lines.extend(self._fields_doc(name, params) or ["    (no parameters)"])
        own = "_timeout" if method in self._timeout_methods else "timeout / _timeout"
        lines.append(
            "    %s (float or None, syncdp's own, not sent): seconds to wait for the answer;"
            " None waits forever; default: the CDP object's default_timeout." % own
        )
        returns = command.get("returns") or []
        lines.extend(["", "Returns:"])
        if returns:
            lines.append("    dict with:")
            lines.extend("    " + line for line in self._fields_doc(name, returns))
        else:
            lines.append("    {} (no result fields).")
        lines.extend(
            [
                "",
                "Raises:",
                "    InvalidCommand: unknown or missing parameter, or a value of the wrong type;",
                "        nothing is sent.",
                "    CommandError: the browser answered with an error.",
            ]
        )
        return "\n".join(lines)

    def event_doc(self, name: str) -> str:
        """The docstring of event ``name``: description, flags and parameters."""
        found = self._events.get(name)
        if found is None:
            raise InvalidCommand(self._unknown_message(name, "event"))
        domain, event = found
        lines = ["%s (CDP event)" % name]
        lines.extend(self._header(event, domain))
        lines.extend(["", "Event params:"])
        params = event.get("parameters") or []
        lines.extend(self._fields_doc(domain["domain"], params) or ["    (no parameters)"])
        return "\n".join(lines)

    def domain_doc(self, name: str) -> str:
        """The docstring of domain ``name``: description, flags, dependencies, members."""
        domain = self.domains.get(name)
        if domain is None:
            raise InvalidCommand(self._unknown_message(name, "domain"))
        where = ", ".join(x for x in (self.product, "protocol %s" % self.version) if x)
        lines = ["CDP domain %s (%s)" % (name, where)]
        lines.extend(self._header(domain, {}))
        if domain.get("dependencies"):
            lines.extend(["", "Depends on: %s." % ", ".join(domain["dependencies"])])
        commands = [c["name"] for c in domain.get("commands") or ()]
        events = [e["name"] for e in domain.get("events") or ()]
        lines.extend(["", "Commands: %s." % (", ".join(commands) or "none")])
        lines.append("Events: %s." % (", ".join(events) or "none"))
        return "\n".join(lines)

    def _signature(self, method: str) -> inspect.Signature:
        domain, command = self._commands[method]
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        for spec in command.get("parameters") or ():
            name = spec["name"]
            if keyword.iskeyword(name):
                name += "_"
            annotation = self._py_annotation(domain["domain"], spec)
            optional = bool(spec.get("optional"))
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=None if optional else inspect.Parameter.empty,
                    annotation=annotation + (" | None" if optional else ""),
                )
            )
        for own in ("_timeout",) if method in self._timeout_methods else ("timeout", "_timeout"):
            params.append(
                inspect.Parameter(
                    own,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=_DEFAULT,
                    annotation="float | None",
                )
            )
        return inspect.Signature(params, return_annotation="dict")

    def _py_annotation(self, domain: str, spec: Mapping[str, Any]) -> str:
        ref = spec.get("$ref")
        if isinstance(ref, str):
            return ref if "." in ref else "%s.%s" % (domain, ref)
        jtype = str(spec.get("type", "any"))
        if jtype == "array" and isinstance(spec.get("items"), Mapping):
            return "list[%s]" % self._py_annotation(domain, spec["items"])
        return _PY_NAMES.get(jtype, "Any")

    # -- runtime classes --------------------------------------------------------------------

    def _domain_class(self, name: str) -> type:
        cls = self._classes.get(name)
        if cls is not None:
            return cls
        domain = self.domains.get(name)
        if domain is None:
            suggestions = _close(name, self.domains)
            raise UnknownMemberError(
                "CDP has no domain %r in the protocol of %s%s"
                % (name, self.product or "the browser", _did_you_mean(suggestions)),
                suggestions,
            )
        with self._lock:
            cls = self._classes.get(name)
            if cls is None:
                cls = self._build_domain_class(domain)
                self._classes[name] = cls
        return cls

    def _build_domain_class(self, domain: Dict[str, Any]) -> type:
        name = domain["domain"]
        namespace: Dict[str, Any] = {
            "__doc__": self.domain_doc(name),
            "__module__": __name__,
            "__qualname__": "CDP.%s" % name,
            "__slots__": (),
            "_protocol": self,
            "_domain_name": name,
        }
        for event in domain.get("events") or ():
            qualified = "%s.%s" % (name, event["name"])
            namespace[event["name"]] = EventName(qualified, self.event_doc(qualified))
        for command in domain.get("commands") or ():
            namespace[command["name"]] = self._make_command("%s.%s" % (name, command["name"]))
        return type(name, (_DomainBase,), namespace)

    def _make_command(self, method: str) -> Callable[..., Dict[str, Any]]:
        validator = self._validator(method)
        deprecated = self.is_deprecated(method)
        domain_name, _, name = method.partition(".")
        own_timeout = method not in self._timeout_methods
        unset = _UNSET

        def command(self: _DomainBase, **params: Any) -> Dict[str, Any]:
            # The hot path: keep it to dict operations (see the module docstring, "Cost").
            timeout = params.pop("_timeout", unset) if params else unset
            if own_timeout and "timeout" in params:
                if timeout is not unset:
                    raise InvalidCommand("%s: pass timeout= or _timeout=, not both" % method)
                timeout = params.pop("timeout")
            if timeout is unset:
                timeout = self._timeout
            if deprecated:
                warnings.warn(
                    "%s is deprecated in the protocol" % method, DeprecationWarning, stacklevel=2
                )
            if params:
                return self._send(method, validator(params) or None, timeout)
            if validator.required:
                validator.empty()
            return self._send(method, None, timeout)

        command.__name__ = name
        command.__qualname__ = "CDP.%s.%s" % (domain_name, name)
        command.__module__ = __name__
        command.__doc__ = self.command_doc(method)
        command.__signature__ = self._signature(method)  # type: ignore[attr-defined]
        return command


class _DefaultTimeout:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT = _DefaultTimeout()


def _decode_descriptor(data: bytes) -> Dict[str, Any]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    descriptor = json.loads(data.decode("utf-8"))
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("domains"), list):
        raise ValueError("not a CDP protocol descriptor: no 'domains' list")
    return descriptor


# -- runtime objects -------------------------------------------------------------------------


class EventName(str):
    """The name of a CDP event: a ``str`` (``"Page.loadEventFired"``) with a docstring.

    Usable wherever an event name is (``register_callback``, ``wait_for_event``, ``on``...).
    Its ``__doc__`` holds the protocol's description and the event's parameters.
    """

    def __new__(cls, name: str, doc: Optional[str] = None) -> "EventName":
        self = super().__new__(cls, name)
        if doc is not None:
            self.__doc__ = doc
        return self

    @property
    def domain(self) -> str:
        """The domain part: ``"Page"``."""
        return self.partition(".")[0]

    @property
    def event(self) -> str:
        """The event part: ``"loadEventFired"``."""
        return self.partition(".")[2]


class _DomainBase:
    """Base of the per-domain classes :class:`Protocol` builds (one per domain and protocol)."""

    __slots__ = ("_send", "_timeout")
    _protocol: Protocol
    _domain_name: str

    def __init__(self, send: SendFn, timeout: Optional[float]) -> None:
        self._send = send
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define.
        if name.startswith("_"):
            raise AttributeError(name)
        protocol = self._protocol
        qualified = "%s.%s" % (self._domain_name, name)
        suggestions = protocol.suggest(qualified)
        raise UnknownMemberError(
            "%s has no command or event %r in the protocol of %s%s"
            % (
                self._domain_name,
                name,
                protocol.product or "the browser",
                _did_you_mean(suggestions),
            ),
            suggestions,
        )

    def __dir__(self) -> List[str]:
        return list(self._protocol.members(self._domain_name))

    def __repr__(self) -> str:
        domain = self._protocol.domains[self._domain_name]
        return "<CDP domain %s: %d commands, %d events>" % (
            self._domain_name,
            len(domain.get("commands") or ()),
            len(domain.get("events") or ()),
        )


class _PlainMember(str):
    """Degraded mode (no protocol): a name that is both a ``str`` and a sending callable."""

    _send: SendFn
    _timeout: Optional[float]
    _protocol_timeout: bool

    def __call__(self, **params: Any) -> Dict[str, Any]:
        timeout = params.pop("_timeout", _UNSET)
        if not self._protocol_timeout and "timeout" in params:
            if timeout is not _UNSET:
                raise InvalidCommand("%s: pass timeout= or _timeout=, not both" % self)
            timeout = params.pop("timeout")
        if timeout is _UNSET:
            timeout = self._timeout
        clean = {
            k.rstrip("_") if keyword.iskeyword(k.rstrip("_")) else k: v
            for k, v in params.items()
            if v is not None
        }
        return self._send(str(self), clean or None, timeout)


class _PlainDomain:
    """Degraded mode (no protocol): every attribute is a :class:`_PlainMember`."""

    def __init__(self, name: str, send: SendFn, timeout: Optional[float]) -> None:
        self._name = name
        self._send = send
        self._timeout = timeout

    def __getattr__(self, name: str) -> _PlainMember:
        if name.startswith("_"):
            raise AttributeError(name)
        member = _PlainMember("%s.%s" % (self._name, name))
        member._send = self._send
        member._timeout = self._timeout
        member._protocol_timeout = str(member) in _pinned_timeout_methods()
        self.__dict__[name] = member
        return member

    def __repr__(self) -> str:
        return "<CDP domain %s (no protocol: unvalidated)>" % self._name


def _pinned_timeout_methods() -> FrozenSet[str]:
    # Without the browser's protocol, the shipped one says which commands own ``timeout``.
    try:
        return pinned_protocol()._timeout_methods
    except (OSError, ValueError):
        return frozenset({"Runtime.evaluate", "Debugger.evaluateOnCallFrame"})


class CDP:
    """Typed access to every CDP domain: ``cdp.Page.navigate(url=...)``.

    ``cdp.<Domain>`` is built on first use and then cached; ``dir(cdp)`` lists the domains
    and ``dir(cdp.Page)`` its commands and events (tab completion). See the module docstring
    for arguments, timeouts, validation and events.

    Args:
        send: called positionally as ``send(method, params, timeout)`` (``params`` is
            ``None`` when there are none) and returning the command's result dict; e.g.
            ``lambda m, p, t: conn.send(m, p, timeout=t)``.
        protocol: a :class:`Protocol`, or a function returning one, called (once) on first
            use. If that function raises (:class:`ProtocolUnavailableError`, a connection
            error, ``OSError``...), a warning is logged and calls are sent unvalidated.
        default_timeout: seconds to wait for an answer when a call gives no ``_timeout=``;
            ``None`` waits forever.
    """

    def __init__(
        self,
        send: SendFn,
        protocol: Union[Protocol, Callable[[], Protocol]],
        *,
        default_timeout: Optional[float] = 30.0,
    ) -> None:
        self._send = send
        self._default_timeout = default_timeout
        self._lock = threading.Lock()
        self._resolved = isinstance(protocol, Protocol)
        self._protocol: Optional[Protocol] = protocol if isinstance(protocol, Protocol) else None
        self._provider: Optional[Callable[[], Protocol]] = (
            None if isinstance(protocol, Protocol) else protocol
        )

    def _get_protocol(self) -> Optional[Protocol]:
        """The protocol (``None`` in degraded mode), calling the provider on first use."""
        if self._resolved:
            return self._protocol
        with self._lock:
            if not self._resolved:
                provider = self._provider
                try:
                    protocol = provider() if provider is not None else None
                    if protocol is not None and not isinstance(protocol, Protocol):
                        raise TypeError("the protocol provider returned %r" % (protocol,))
                    self._protocol = protocol
                except (SyncdpError, OSError, ValueError, TypeError) as exc:
                    logger.warning(
                        "CDP protocol unavailable (%s): calls are sent without validation", exc
                    )
                    self._protocol = None
                self._provider = None
                self._resolved = True
        return self._protocol

    def __getattr__(self, name: str) -> Any:
        # Reached once per domain: the domain object is then stored in the instance dict.
        if name.startswith("_"):
            raise AttributeError(name)
        protocol = self._get_protocol()
        domain: Any
        if protocol is None:
            domain = _PlainDomain(name, self._send, self._default_timeout)
        else:
            domain = protocol._domain_class(name)(self._send, self._default_timeout)
        self.__dict__[name] = domain
        return domain

    def __dir__(self) -> List[str]:
        protocol = self._get_protocol()
        if protocol is None:
            return [n for n in self.__dict__ if not n.startswith("_")]
        return sorted(protocol.domains)

    def __repr__(self) -> str:
        if not self._resolved:
            return "<CDP (protocol not loaded yet)>"
        protocol = self._protocol
        if protocol is None:
            return "<CDP (no protocol: unvalidated)>"
        return "<CDP %s protocol %s: %d domains>" % (
            protocol.product or "unknown browser",
            protocol.version,
            len(protocol.domains),
        )


def protocol_of(cdp: CDP, *, load: bool = False) -> Optional[Protocol]:
    """The :class:`Protocol` behind ``cdp``, or ``None``.

    Args:
        cdp: a :class:`CDP` object.
        load: call its protocol provider now if it has not run yet; without it, ``None``
            is returned until ``cdp`` has been used (so this never costs a request).

    Returns:
        ``None`` when the protocol is not loaded (and ``load`` is false) or unavailable.
    """
    if load or cdp._resolved:
        return cdp._get_protocol()
    return None


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
        near = _close(domain, protocol.domains, n=1, cutoff=0.75)
        if not near or "%s.%s" % (near[0], member) not in protocol.event_names:
            return
        suggestions = ["%s.%s" % (near[0], member)]
    else:
        suggestions = protocol.suggest(name, "event")
    what = "a command, not an event" if name in protocol.command_names else "not an event"
    warnings.warn(
        UnknownEventWarning(
            "%r is %s of %s, so callbacks and waits for it never fire%s"
            % (name, what, protocol.product or "the browser's protocol", _did_you_mean(suggestions))
        ),
        stacklevel=stacklevel if stacklevel is not None else _outside_syncdp(),
    )


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _outside_syncdp() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in our caller) of the first frame outside
    the syncdp package."""
    frame = sys._getframe(2)  # the caller of the function that calls warnings.warn
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


# -- loading and caching ---------------------------------------------------------------------

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
            here = os.path.dirname(os.path.abspath(__file__))
            path = os.path.join(here, *_PINNED_RESOURCE)
            with open(path, "rb") as fh:
                descriptor = _decode_descriptor(fh.read())
            _pinned.append(
                Protocol(
                    descriptor,
                    product=descriptor.get(_PRODUCT_FIELD) or PINNED_PRODUCT,
                    source="pinned (%s)" % path,
                )
            )
    return _pinned[0]


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
        descriptor = _decode_descriptor(data)
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
    data[_PRODUCT_FIELD] = key.partition("|")[0]
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


def _pinned_fallback(where: str, reason: BaseException, key: Optional[str]) -> Protocol:
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


def load_protocol(
    endpoint: Union[int, str],
    *,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 10.0,
    cache_dir: Optional[str] = None,
    version: Optional[Mapping[str, Any]] = None,
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
    host, port, scheme, ws_only = _parse_endpoint(endpoint)
    where = "%s://%s:%s" % (scheme, host, port)
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if version is None:
        try:
            version = discovery.get_version(
                port, host.strip("[]"), timeout=timeout, headers=headers, scheme=scheme
            )
        except SyncdpError as exc:
            if ws_only:
                return _pinned_fallback(where, exc, None)
            raise ProtocolUnavailableError(
                "cannot load the CDP protocol from %s: %s" % (where, exc)
            ) from exc
    key = cache_key(version)
    if key is None:
        return _fetch(host, port, scheme, where, ws_only, None, headers, timeout, None)
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
            protocol = _fetch(host, port, scheme, where, ws_only, key, headers, timeout, cache_dir)
            if protocol.source.startswith("pinned"):
                return protocol  # not this browser's own: do not cache it under its key
        with _cache_lock:
            return _memory_cache.setdefault(key, protocol)


def _fetch(
    host: str,
    port: int,
    scheme: str,
    where: str,
    ws_only: bool,
    key: Optional[str],
    headers: Optional[Mapping[str, str]],
    timeout: float,
    cache_dir: Optional[str],
) -> Protocol:
    try:
        descriptor = discovery.get_protocol(
            port, host.strip("[]"), timeout=timeout, headers=headers, scheme=scheme
        )
        protocol = Protocol(
            descriptor,
            product=key.partition("|")[0] if key else None,
            source="%s/json/protocol" % where,
        )
    except (SyncdpError, ValueError) as exc:
        if ws_only:
            return _pinned_fallback(where, exc, key)
        raise ProtocolUnavailableError(
            "cannot load the CDP protocol from %s/json/protocol: %s" % (where, exc)
        ) from exc
    logger.debug("protocol of %s loaded from %s", key or "an unknown browser", where)
    if cache_dir and key:
        _disk_store(cache_dir, key, descriptor)
    return protocol
