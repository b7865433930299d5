"""The connected browser's own protocol: validated, documented, tab-completed CDP calls.

Chromium describes every domain, command, event and type it speaks at ``/json/protocol``.
This package reads that descriptor and turns it into Python objects::

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
    logged once. :func:`load_browser_protocol` is the one loader a connection or browser
    object calls: for a ``ws://`` endpoint it asks ``Browser.getVersion`` over the connection
    first, so the caches are keyed without HTTP discovery.

Cost
    Importing :mod:`syncdp` does not import this package. A domain's class (methods,
    signatures, docstrings, one cached validator per command) is built on first use and
    shared by every :class:`CDP` using the same :class:`Protocol`; a call then costs a walk
    over its keyword arguments: about half a microsecond more than calling ``send`` itself.

Modules (imports point down this list)
    :mod:`~syncdp.protocol._text` (suggestions), :mod:`~syncdp.protocol.validation` (checking
    keyword arguments), :mod:`~syncdp.protocol.docs` (docstrings and signatures),
    :mod:`~syncdp.protocol.model` (:class:`Protocol`: the descriptor indexed),
    :mod:`~syncdp.protocol.loader` (``/json/protocol``, the caches, the pinned descriptor),
    :mod:`~syncdp.protocol.proxy` (:class:`CDP`). Nothing here imports the connection layer:
    a sender is any :class:`CommandSender`.

Static typing: see :mod:`syncdp.devtools.stubgen` and :mod:`syncdp.cdp_types`.
"""

from __future__ import annotations

from syncdp.protocol.loader import (
    CACHE_ENV,
    PINNED_PRODUCT,
    clear_protocol_cache,
    load_browser_protocol,
    load_protocol,
    load_transport_protocol,
    pinned_protocol,
    protocol_for_version,
)
from syncdp.protocol.model import (
    CommandSender,
    Protocol,
    ProtocolCacheWarning,
    ProtocolUnavailableError,
    SendFn,
    UnknownEventWarning,
    UnknownMemberError,
    cache_key,
    check_event_name,
)
from syncdp.protocol.proxy import CDP, EventName, protocol_of

__all__ = [
    "Protocol",
    "CDP",
    "EventName",
    "CommandSender",
    "load_protocol",
    "load_browser_protocol",
    "pinned_protocol",
    "load_transport_protocol",
    "protocol_for_version",
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
    "SendFn",
]
