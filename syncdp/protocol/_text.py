"""Text helpers shared by the protocol modules: near-miss suggestions, short reprs, indents.

Internal to :mod:`syncdp.protocol`; imports nothing from syncdp.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, List, Mapping

__all__ = ["ENUM_DOC_LIMIT", "did_you_mean", "close_matches", "camel", "short_repr", "indent", "flags"]

ENUM_DOC_LIMIT = 12
"""At most this many enum values are spelt out in docstrings and messages."""


def did_you_mean(suggestions: List[str]) -> str:
    """``"; did you mean a, b or c?"``, or ``""`` without suggestions."""
    if not suggestions:
        return ""
    if len(suggestions) == 1:
        return "; did you mean %s?" % suggestions[0]
    return "; did you mean %s or %s?" % (", ".join(suggestions[:-1]), suggestions[-1])


def close_matches(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> List[str]:
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


def camel(name: str) -> str:
    """``"return_by_value"`` -> ``"returnByValue"``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def indent(text: str, prefix: str) -> str:
    """Every non-blank line of ``text`` prefixed; blank lines emptied."""
    return "\n".join((prefix + line) if line.strip() else "" for line in text.splitlines())


def flags(spec: Mapping[str, Any]) -> List[str]:
    """``["experimental", "deprecated"]``, as far as ``spec`` says so."""
    out = []
    if spec.get("experimental"):
        out.append("experimental")
    if spec.get("deprecated"):
        out.append("deprecated")
    return out
