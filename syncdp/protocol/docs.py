"""The protocol's own words as Python documentation: docstrings and signatures.

What ``help(cdp.Page.navigate)``, ``cdp.Page.loadEventFired.__doc__`` and ``help(cdp.Page)``
show, built from the descriptor's JSON: descriptions, experimental and deprecated flags,
parameters with their types and enum values, result fields. Pure formatting: these functions
take the JSON of one domain, command or event, plus the descriptor's types (``"Page.FrameId"``
-> its JSON) to follow ``$ref``\\ s; :class:`~syncdp.protocol.Protocol` looks the names up.
"""

from __future__ import annotations

import inspect
import keyword
from typing import Any, Dict, Iterable, List, Mapping, Optional

from syncdp.protocol._text import ENUM_DOC_LIMIT, flags, indent

__all__ = ["DEFAULT_TIMEOUT", "command_doc", "event_doc", "domain_doc", "signature", "type_text"]

Types = Mapping[str, Dict[str, Any]]
"""Qualified type id (``"Page.FrameId"``) -> the type's JSON."""

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


class _DefaultTimeout:
    def __repr__(self) -> str:
        return "<default>"


DEFAULT_TIMEOUT: Any = _DefaultTimeout()
"""The default shown for ``timeout`` / ``_timeout`` in signatures: the CDP object's own."""


def _qualified(domain: str, ref: str) -> str:
    return ref if "." in ref else "%s.%s" % (domain, ref)


def type_text(types: Types, domain: str, spec: Mapping[str, Any]) -> str:
    """``string``, ``Page.FrameId: string``, ``array of Network.Cookie: object``..."""
    ref = spec.get("$ref")
    if isinstance(ref, str):
        full = _qualified(domain, ref)
        target = types.get(full)
        if target is None:
            return full
        inner = str(target.get("type", "any"))
        if inner == "array" and isinstance(target.get("items"), Mapping):
            inner = "array of %s" % type_text(types, full.partition(".")[0], target["items"])
        elif target.get("enum"):
            inner = "string enum"
        return "%s: %s" % (full, inner)
    jtype = str(spec.get("type", "any"))
    if jtype == "array" and isinstance(spec.get("items"), Mapping):
        return "array of %s" % type_text(types, domain, spec["items"])
    if spec.get("enum"):
        return "string enum"
    return jtype


def _enum_of(types: Types, domain: str, spec: Mapping[str, Any]) -> Optional[List[str]]:
    ref = spec.get("$ref")
    if isinstance(ref, str):
        target = types.get(_qualified(domain, ref))
        return list(target["enum"]) if target and target.get("enum") else None
    return list(spec["enum"]) if spec.get("enum") else None


def _field_lines(types: Types, domain: str, field: Mapping[str, Any]) -> List[str]:
    what = [type_text(types, domain, field)]
    what.append("optional" if field.get("optional") else "required")
    what.extend(flags(field))
    lines = ["    %s (%s)" % (field["name"], ", ".join(what))]
    description = str(field.get("description") or "").strip()
    if description:
        first, _, rest = description.partition("\n")
        lines[-1] += ": " + first
        if rest:
            lines.append(indent(rest, "        "))
    enum = _enum_of(types, domain, field)
    if enum:
        shown = ", ".join(repr(v) for v in enum[:ENUM_DOC_LIMIT])
        if len(enum) > ENUM_DOC_LIMIT:
            shown += ", ... (%d values)" % len(enum)
        lines.append("        One of: %s." % shown)
    return lines


def _fields_doc(types: Types, domain: str, fields: Iterable[Mapping[str, Any]]) -> List[str]:
    lines: List[str] = []
    for field in fields:
        lines.extend(_field_lines(types, domain, field))
    return lines


def _header(spec: Mapping[str, Any], domain: Mapping[str, Any]) -> List[str]:
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


def command_doc(
    types: Types,
    method: str,
    domain: Mapping[str, Any],
    command: Mapping[str, Any],
    *,
    protocol_timeout: bool,
) -> str:
    """The docstring of command ``method``: description, flags, args, return fields.

    Args:
        types: the descriptor's types.
        method: ``"Page.navigate"``.
        domain: the JSON of its domain.
        command: the JSON of the command.
        protocol_timeout: whether the command has a ``timeout`` parameter of its own (then
            syncdp's timeout is only ``_timeout``).
    """
    name = domain["domain"]
    lines = ["%s (CDP command)" % method]
    lines.extend(_header(command, domain))
    lines.extend(["", "Args:"])
    lines.extend(_fields_doc(types, name, command.get("parameters") or []) or ["    (no parameters)"])
    own = "_timeout" if protocol_timeout else "timeout / _timeout"
    lines.append(
        "    %s (float or None, syncdp's own, not sent): seconds to wait for the answer;"
        " None waits forever; default: the CDP object's default_timeout." % own
    )
    returns = command.get("returns") or []
    lines.extend(["", "Returns:"])
    if returns:
        lines.append("    dict with:")
        lines.extend("    " + line for line in _fields_doc(types, name, returns))
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


def event_doc(types: Types, name: str, domain: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """The docstring of event ``name`` (``"Page.loadEventFired"``): description, flags, params."""
    lines = ["%s (CDP event)" % name]
    lines.extend(_header(event, domain))
    lines.extend(["", "Event params:"])
    params = event.get("parameters") or []
    lines.extend(_fields_doc(types, domain["domain"], params) or ["    (no parameters)"])
    return "\n".join(lines)


def domain_doc(domain: Mapping[str, Any], product: Optional[str], version: str) -> str:
    """The docstring of a domain: description, flags, dependencies, members.

    Args:
        domain: the domain's JSON.
        product: the browser the protocol came from, if known.
        version: the protocol version (``"1.3"``).
    """
    where = ", ".join(x for x in (product, "protocol %s" % version) if x)
    lines = ["CDP domain %s (%s)" % (domain["domain"], where)]
    lines.extend(_header(domain, {}))
    if domain.get("dependencies"):
        lines.extend(["", "Depends on: %s." % ", ".join(domain["dependencies"])])
    commands = [c["name"] for c in domain.get("commands") or ()]
    events = [e["name"] for e in domain.get("events") or ()]
    lines.extend(["", "Commands: %s." % (", ".join(commands) or "none")])
    lines.append("Events: %s." % (", ".join(events) or "none"))
    return "\n".join(lines)


def _py_annotation(domain: str, spec: Mapping[str, Any]) -> str:
    ref = spec.get("$ref")
    if isinstance(ref, str):
        return _qualified(domain, ref)
    jtype = str(spec.get("type", "any"))
    if jtype == "array" and isinstance(spec.get("items"), Mapping):
        return "list[%s]" % _py_annotation(domain, spec["items"])
    return _PY_NAMES.get(jtype, "Any")


def signature(domain: str, command: Mapping[str, Any], *, protocol_timeout: bool) -> inspect.Signature:
    """The signature ``help()`` shows for a command method: keyword-only protocol parameters
    (``None`` default for optional ones), then syncdp's own ``timeout`` / ``_timeout``.

    Args:
        domain: the domain's name (``"Page"``), to qualify ``$ref`` types.
        command: the command's JSON.
        protocol_timeout: as for :func:`command_doc`.
    """
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for spec in command.get("parameters") or ():
        name = spec["name"]
        if keyword.iskeyword(name):
            name += "_"
        optional = bool(spec.get("optional"))
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None if optional else inspect.Parameter.empty,
                annotation=_py_annotation(domain, spec) + (" | None" if optional else ""),
            )
        )
    for own in ("_timeout",) if protocol_timeout else ("timeout", "_timeout"):
        params.append(
            inspect.Parameter(
                own, inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_TIMEOUT, annotation="float | None"
            )
        )
    return inspect.Signature(params, return_annotation="dict")
