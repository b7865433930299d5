"""Checks on what callers pass in: commands, timeouts, event names; CDP error responses.

Pure functions, no state: every check raises :class:`~syncdp.exceptions.InvalidCommand`
naming the argument, before anything is sent.
"""

from __future__ import annotations

from typing import Any, Dict

from syncdp._checks import check_timeout
from syncdp.exceptions import CommandError, InvalidCommand

__all__ = ["check_event_name", "check_timeout", "command_error", "validate_command", "WILDCARD"]

WILDCARD = "*"
"""The event name a listener registers for to receive every event (puppeteer's ``on('*')``)."""

# Top-level keys a command may have; the browser answers any other with an error that
# carries no id, which could never reach the caller.
_COMMAND_KEYS = frozenset(("method", "params", "id"))


def check_event_name(event_name: Any) -> str:
    """An event name a listener can match: ``"Domain.event"`` or :data:`WILDCARD`.

    Raises:
        InvalidCommand: not a string, empty, or without a dot (it could never match).
    """
    if not isinstance(event_name, str) or not event_name:
        raise InvalidCommand("event_name must be a non-empty string, got %r" % (event_name,))
    if event_name != WILDCARD and "." not in event_name.strip("."):
        raise InvalidCommand(
            "event_name %r can never match: events are named 'Domain.event' (e.g. "
            "'Page.loadEventFired'), or '*' for every event" % (event_name,)
        )
    return event_name


def _check_keys(method: str, command: Dict[str, Any]) -> None:
    extra = sorted(str(key) for key in command if key not in _COMMAND_KEYS)
    if not extra:
        return
    if extra == ["sessionId"]:
        raise InvalidCommand(
            "%s: 'sessionId' is set by syncdp; send through the session instead "
            "(conn.attach(target_id).execute_command(...))" % method
        )
    raise InvalidCommand(
        "%s: unknown top-level key(s) %s; a command has only 'method', 'params' and 'id'"
        " (parameters go inside 'params')" % (method, ", ".join(map(repr, extra)))
    )


def validate_command(command: Any) -> str:
    """Check a command dict; returns its method.

    Raises:
        InvalidCommand: not a dict, no non-empty ``method`` string, ``params`` not a dict, or
            unknown top-level keys.
    """
    if not isinstance(command, dict):
        raise InvalidCommand("Command must be a dictionary, got %s" % type(command).__name__)
    method = command.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidCommand("Command must have a non-empty 'method' string, got %r" % (command,))
    params = command.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidCommand(
            "%s: 'params' must be a dictionary, got %s" % (method, type(params).__name__)
        )
    if len(command) > 2 or not command.keys() <= _COMMAND_KEYS:
        _check_keys(method, command)
    return method


def command_error(method: str, error: Any) -> CommandError:
    """The :class:`CommandError` for the ``error`` member of an answer to ``method``."""
    if isinstance(error, dict):
        code = error.get("code")
        return CommandError(
            method,
            code if isinstance(code, int) else None,
            str(error.get("message", "")),
            error.get("data"),
        )
    return CommandError(method, None, str(error))
