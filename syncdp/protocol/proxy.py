"""``.cdp``: the browser's protocol as Python attributes and validated calls.

:class:`CDP` wraps a :class:`~syncdp.protocol.CommandSender` (a connection's, a tab's...) and a
:class:`~syncdp.protocol.Protocol` (or a function returning one, called on first use). Each
``cdp.<Domain>`` is an instance of a class built once per protocol and domain: one method
per command (validator, docstring and signature made once), one :class:`EventName` per event.
Without a protocol (its provider failed), calls are sent unvalidated ("plain sending").
"""

from __future__ import annotations

import keyword
import logging
import threading
import warnings
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Union

from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.protocol._text import close_matches, did_you_mean
from syncdp.protocol.loader import pinned_protocol
from syncdp.protocol.model import CommandSender, Protocol, UnknownMemberError

__all__ = ["CDP", "EventName", "protocol_of"]

logger = logging.getLogger(__name__)

_UNSET: Any = object()
# What help() and tracebacks show as the home of the generated domain classes and methods.
_PUBLIC_MODULE = "syncdp.protocol"


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


# -- validated domains -----------------------------------------------------------------------


class _DomainBase:
    """Base of the per-domain classes built for a protocol (one per domain and protocol)."""

    __slots__ = ("_send", "_timeout")
    _protocol: Protocol
    _domain_name: str

    def __init__(self, send: CommandSender, timeout: Optional[float]) -> None:
        self._send = send
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define.
        if name.startswith("_"):
            raise AttributeError(name)
        protocol = self._protocol
        suggestions = protocol.suggest("%s.%s" % (self._domain_name, name))
        raise UnknownMemberError(
            "%s has no command or event %r in the protocol of %s%s"
            % (self._domain_name, name, protocol.product or "the browser", did_you_mean(suggestions)),
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


def _domain_class(protocol: Protocol, name: str) -> type:
    """The class of ``cdp.<name>`` for ``protocol``, built on first use and shared."""
    domain = protocol.get_domain(name)
    if domain is None:
        suggestions = close_matches(name, protocol.domains)
        raise UnknownMemberError(
            "CDP has no domain %r in the protocol of %s%s"
            % (name, protocol.product or "the browser", did_you_mean(suggestions)),
            suggestions,
        )
    return protocol.memo((__name__, name), lambda: _build_domain_class(protocol, domain))


def _build_domain_class(protocol: Protocol, domain: Dict[str, Any]) -> type:
    name = domain["domain"]
    namespace: Dict[str, Any] = {
        "__doc__": protocol.domain_doc(name),
        "__module__": _PUBLIC_MODULE,
        "__qualname__": "CDP.%s" % name,
        "__slots__": (),
        "_protocol": protocol,
        "_domain_name": name,
    }
    for event in domain.get("events") or ():
        qualified = "%s.%s" % (name, event["name"])
        namespace[event["name"]] = EventName(qualified, protocol.event_doc(qualified))
    for command in domain.get("commands") or ():
        namespace[command["name"]] = _make_command(protocol, "%s.%s" % (name, command["name"]))
    return type(name, (_DomainBase,), namespace)


def _make_command(protocol: Protocol, method: str) -> Callable[..., Dict[str, Any]]:
    validator = protocol.validator(method)
    deprecated = protocol.is_deprecated(method)
    domain_name, _, name = method.partition(".")
    own_timeout = method not in protocol.timeout_methods
    unset = _UNSET

    def command(self: _DomainBase, **params: Any) -> Dict[str, Any]:
        # The hot path: keep it to dict operations (see the package docstring, "Cost").
        timeout = params.pop("_timeout", unset) if params else unset
        if own_timeout and "timeout" in params:
            if timeout is not unset:
                raise InvalidCommand("%s: pass timeout= or _timeout=, not both" % method)
            timeout = params.pop("timeout")
        if timeout is unset:
            timeout = self._timeout
        if deprecated:
            warnings.warn("%s is deprecated in the protocol" % method, DeprecationWarning, stacklevel=2)
        if params:
            return self._send(method, validator(params) or None, timeout)
        if validator.required:
            validator.empty()
        return self._send(method, None, timeout)

    command.__name__ = name
    command.__qualname__ = "CDP.%s.%s" % (domain_name, name)
    command.__module__ = _PUBLIC_MODULE
    command.__doc__ = protocol.command_doc(method)
    command.__signature__ = protocol.signature(method)  # type: ignore[attr-defined]
    return command


# -- plain sending (no protocol) -------------------------------------------------------------


class _PlainMember(str):
    """Degraded mode (no protocol): a name that is both a ``str`` and a sending callable."""

    _send: CommandSender
    _timeout: Optional[float]
    _protocol_timeout: bool

    def __new__(cls, name: str, send: CommandSender, timeout: Optional[float]) -> "_PlainMember":
        self = super().__new__(cls, name)
        self._send = send
        self._timeout = timeout
        self._protocol_timeout = name in _pinned_timeout_methods()
        return self

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

    def __init__(self, name: str, send: CommandSender, timeout: Optional[float]) -> None:
        self._name = name
        self._send = send
        self._timeout = timeout

    def __getattr__(self, name: str) -> _PlainMember:
        if name.startswith("_"):
            raise AttributeError(name)
        member = _PlainMember("%s.%s" % (self._name, name), self._send, self._timeout)
        self.__dict__[name] = member
        return member

    def __repr__(self) -> str:
        return "<CDP domain %s (no protocol: unvalidated)>" % self._name


def _pinned_timeout_methods() -> FrozenSet[str]:
    # Without the browser's protocol, the shipped one says which commands own ``timeout``.
    try:
        return pinned_protocol().timeout_methods
    except (OSError, ValueError):
        return frozenset({"Runtime.evaluate", "Debugger.evaluateOnCallFrame"})


# -- the proxy -------------------------------------------------------------------------------


class CDP:
    """Typed access to every CDP domain: ``cdp.Page.navigate(url=...)``.

    ``cdp.<Domain>`` is built on first use and then cached; ``dir(cdp)`` lists the domains
    and ``dir(cdp.Page)`` its commands and events (tab completion). See the
    :mod:`syncdp.protocol` docstring for arguments, timeouts, validation and events.

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
        send: CommandSender,
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

    def get_protocol(self, *, load: bool = False) -> Optional[Protocol]:
        """The :class:`Protocol` behind this object, or ``None``.

        Args:
            load: call the protocol provider now if it has not run yet; without it, ``None``
                is returned until this object has been used (so this never costs a request).

        Returns:
            ``None`` when the protocol is not loaded (and ``load`` is false) or unavailable.
        """
        if load or self._resolved:
            return self._resolve()
        return None

    def _resolve(self) -> Optional[Protocol]:
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
                    logger.warning("CDP protocol unavailable (%s): calls are sent without validation", exc)
                    self._protocol = None
                self._provider = None
                self._resolved = True
        return self._protocol

    def __getattr__(self, name: str) -> Any:
        # Reached once per domain: the domain object is then stored in the instance dict.
        if name.startswith("_"):
            raise AttributeError(name)
        protocol = self._resolve()
        domain: Any
        if protocol is None:
            domain = _PlainDomain(name, self._send, self._default_timeout)
        else:
            domain = _domain_class(protocol, name)(self._send, self._default_timeout)
        self.__dict__[name] = domain
        return domain

    def __dir__(self) -> List[str]:
        protocol = self._resolve()
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
    """The :class:`Protocol` behind ``cdp``, or ``None``: ``cdp.get_protocol(load=load)``.

    Args:
        cdp: a :class:`CDP` object.
        load: call its protocol provider now if it has not run yet; without it, ``None``
            is returned until ``cdp`` has been used (so this never costs a request).
    """
    return cdp.get_protocol(load=load)
