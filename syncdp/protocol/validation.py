"""Checking a command's keyword arguments against the protocol, before anything is sent.

A :class:`Validator` is built once per command (and cached by its
:class:`~syncdp.protocol.Protocol`) from one :class:`Check` per parameter. The common case, every
value of an exactly expected class and every required name present, is a walk over the
keyword arguments with set look-ups; anything else takes the slow path, which cleans the
arguments (``None`` for an optional parameter is left out, ``from_`` becomes ``from``) or raises
:class:`~syncdp.exceptions.InvalidCommand` saying what is wrong and what was meant.
"""

from __future__ import annotations

import keyword
import warnings
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

from syncdp.exceptions import InvalidCommand
from syncdp.protocol._text import ENUM_DOC_LIMIT, camel, close_matches, did_you_mean, short_repr

__all__ = ["Check", "Validator"]

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
_ARTICLE = {
    "string": "a string",
    "binary": "a base64 string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object (dict)",
    "array": "an array (list)",
}


class Check:
    """How one parameter (or array item) is validated; built once per command.

    Args:
        name: the parameter's name (``"url"``; ``"cookies[]"`` for array items).
        jtype: its JSON type (``"string"``, ``"integer"``...; ``"any"`` accepts anything).
        optional: whether it may be left out.
        deprecated: whether the protocol marks it deprecated (then it warns).
        enum: the allowed strings, for an enum.
        items: the check of an array's items.
        typename: the protocol type it comes from (``"Page.FrameId"``), for messages.
    """

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
        items: Optional["Check"] = None,
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
        """Whether ``value`` is valid for this parameter."""
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
        """What a valid value is, for messages: ``"a string"``, ``"one of 'a', 'b'"``..."""
        if self.enum is not None:
            values = self.enum_order
            shown = ", ".join(repr(v) for v in values[:ENUM_DOC_LIMIT])
            if len(values) > ENUM_DOC_LIMIT:
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
        got = "%s %s" % (type(value).__name__, short_repr(value))
        if self.enum is not None and isinstance(value, str) and isinstance(value, self.types or ()):
            hint = did_you_mean([repr(v) for v in close_matches(value, self.enum_order, n=1)])
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


class Validator:
    """Validates the keyword arguments of one command; cached per protocol and method.

    Args:
        method: the command (``"Page.navigate"``), for messages.
        checks: parameter name -> its :class:`Check`, in the protocol's order.

    Attributes:
        required: the names of the required parameters.
    """

    __slots__ = ("method", "checks", "required", "aliases")

    def __init__(self, method: str, checks: Dict[str, Check]) -> None:
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
        for given, value in params.items():
            name, check = self._resolve(given, params)
            if value is None and check.optional:
                continue  # None means "leave it out": CDP rejects an explicit null
            self._check_value(name, check, value)
            out[name] = value
        missing = [n for n in self.required if n not in out]
        if missing:
            details = ", ".join("%r (%s)" % (n, self.checks[n].label) for n in missing)
            raise InvalidCommand(
                "%s: missing required parameter%s %s"
                % (self.method, "s" if len(missing) > 1 else "", details)
            )
        return out

    def _resolve(self, name: str, params: Dict[str, Any]) -> Tuple[str, Check]:
        """The protocol's name and check of keyword ``name`` (``from_`` -> ``from``)."""
        check = self.checks.get(name)
        if check is not None:
            return name, check
        real = self.aliases.get(name)
        if real is None or real in params:
            raise self._unknown(name)
        return real, self.checks[real]

    def _check_value(self, name: str, check: Check, value: Any) -> None:
        if value is None:
            raise InvalidCommand(
                "%s: required parameter %r must not be None (expected %s)"
                % (self.method, name, check.expected())
            )
        if not check.accepts(value):
            raise InvalidCommand("%s: parameter %r %s" % (self.method, name, check.explain(value)))
        if check.deprecated:
            warnings.warn(
                "%s: parameter %r is deprecated in the protocol" % (self.method, name),
                DeprecationWarning,
                stacklevel=5,
            )

    def _unknown(self, name: str) -> InvalidCommand:
        names = list(self.checks)
        suggestions: List[str] = []
        camel_name = camel(name)
        if camel_name != name and camel_name in self.checks:
            suggestions.append(camel_name)
        for cand in close_matches(name, names):
            if cand not in suggestions:
                suggestions.append(cand)
        quoted = [repr(s) for s in suggestions[:3]]
        if names:
            takes = "%s takes %s" % (self.method, ", ".join(names))
        else:
            takes = "%s takes no parameters" % self.method
        hint = "" if name in ("timeout", "_timeout") else did_you_mean(quoted)
        return InvalidCommand("%s: unknown parameter %r%s (%s)" % (self.method, name, hint, takes))
