"""syncdp's errors cross process boundaries: they pickle with their message and their fields.

A ``multiprocessing`` pool and a Celery result backend send a task's exception back to the
caller with :mod:`pickle`. An error that pickles but does not unpickle (the default
``BaseException`` reduction calls ``__init__`` again with the message as the only argument)
kills the pool's result-handler thread, and ``map`` then waits forever. So every class in
``syncdp.exceptions.__all__``, and a subclass an application defines, must come back equal:
same type, same ``args`` and ``str()``, same attributes, on every pickle protocol.

Each class is built from its ``__init__`` signature, every parameter (defaulted ones too)
given a distinct non-default value, so a class added later is covered without editing this
file.
"""

from __future__ import annotations

import copy
import inspect
import multiprocessing
import pickle
from typing import Any, Dict, List, Optional

import pytest

import syncdp
from syncdp import exceptions
from syncdp.exceptions import CommandError, CommandTimeoutError, SyncdpError

CLASSES = [getattr(exceptions, name) for name in exceptions.__all__]


class ApplicationError(CommandTimeoutError):
    """An application's own subclass with an extra field and its own ``__init__``."""

    def __init__(self, method: str, timeout: float, tab_url: str) -> None:
        self.tab_url = tab_url
        super().__init__(method, timeout)


class PlainSubclass(SyncdpError):
    """A subclass with no ``__init__`` of its own, given an attribute after construction."""


# A sample value for a parameter, chosen by its annotation (the module uses
# ``from __future__ import annotations``: annotations are strings).
_SAMPLES: Dict[str, Any] = {
    "str": "sample",
    "float": 2.5,
    "int": 7,
    "bool": True,
    "object": ("an", "object"),
    "Optional[int]": -32602,
    "Optional[float]": 4.5,
    "Optional[str]": "why-not",
    "Sequence[str]": ["/usr/bin/chromium", "chrome"],
    "List[str]": ["one", "two"],
    "Optional[Sequence[str]]": ["maybe", "some"],
    "Dict[str, Any]": {"key": "value"},
    "Optional[Dict[str, Any]]": {"other": 1},
    "Any": {"detail": [1, "two", None]},
}


def _arguments(cls: type) -> Dict[str, Any]:
    if not inspect.isfunction(cls.__init__):  # a builtin's __init__: takes a message
        return {}
    arguments: Dict[str, Any] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        annotation = param.annotation
        assert annotation in _SAMPLES, (
            "%s.__init__(%s: %s): add a sample value for this annotation to _SAMPLES"
            % (cls.__name__, name, annotation)
        )
        value = _SAMPLES[annotation]
        arguments[name] = "%s-%s" % (value, name) if isinstance(value, str) else value
    return arguments


def _build(cls: type) -> BaseException:
    arguments = _arguments(cls)
    if not arguments:
        error = cls("a message saying what failed")
        error.extra = ("set", "later")  # an attribute an application adds after raising
        return error  # type: ignore[no-any-return]
    return cls(**arguments)  # type: ignore[no-any-return]


def _assert_same(original: BaseException, copied: BaseException) -> None:
    assert type(copied) is type(original)
    assert copied is not original
    assert copied.args == original.args
    assert str(copied) == str(original) and str(copied)
    assert vars(copied) == vars(original)


def _id(cls: type) -> str:
    return cls.__name__


@pytest.mark.parametrize("cls", CLASSES + [ApplicationError, PlainSubclass], ids=_id)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_error_round_trips_through_pickle(cls: type, protocol: int) -> None:
    original = _build(cls)
    copied = pickle.loads(pickle.dumps(original, protocol=protocol))
    _assert_same(original, copied)


@pytest.mark.parametrize("cls", CLASSES + [ApplicationError], ids=_id)
def test_fields_given_to_init_are_kept(cls: type) -> None:
    arguments = _arguments(cls)
    copied = pickle.loads(pickle.dumps(_build(cls)))
    fields = vars(copied)
    for name, value in arguments.items():
        # Most classes store each argument under its own name; the rest (a message folded
        # into the text, StaleElementError's ``element`` kept as ``selector``) show it in
        # their message.
        assert fields.get(name) == value or str(value) in str(copied) or value in fields.values(), (
            cls.__name__, name, value, fields, str(copied)
        )


@pytest.mark.parametrize("cls", CLASSES, ids=_id)
def test_error_survives_copy_and_deepcopy(cls: type) -> None:
    original = _build(cls)
    _assert_same(original, copy.copy(original))
    _assert_same(original, copy.deepcopy(original))


def test_builtin_bases_are_kept_after_pickling() -> None:
    timeout = pickle.loads(pickle.dumps(CommandTimeoutError("Page.navigate", 3.0)))
    assert isinstance(timeout, TimeoutError) and timeout.method == "Page.navigate"
    assert timeout.timeout == 3.0
    assert str(timeout) == str(CommandTimeoutError("Page.navigate", 3.0))
    assert str(timeout).startswith("Page.navigate got no answer within 3s")
    closed = pickle.loads(pickle.dumps(syncdp.ConnectionClosedError(close_code=1006)))
    assert isinstance(closed, ConnectionError) and closed.close_code == 1006
    with pytest.raises(syncdp.ConnectionClosedError):
        raise closed


def test_notes_and_cause_are_pickled_like_builtin_errors() -> None:
    error = CommandError("Page.navigate", -32000, "Cannot navigate", data="x")
    error.__cause__ = ValueError("inner")  # never pickled, as for any exception
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note("while rendering invoice 42")
    copied = pickle.loads(pickle.dumps(error))
    assert copied.__cause__ is None
    assert getattr(copied, "__notes__", None) == getattr(error, "__notes__", None)
    assert (copied.method, copied.code, copied.message, copied.data) == (
        "Page.navigate", -32000, "Cannot navigate", "x"
    )


# -- a real process pool ------------------------------------------------------------------


def raise_in_worker(n: int) -> int:
    """Runs in a pool worker process: every third item times out like a CDP command."""
    if n % 3 == 1:
        raise CommandTimeoutError("Page.printToPDF", 0.25 + n)
    return n * n


@pytest.mark.timeout(90)
def test_pool_map_gives_the_workers_error_to_the_caller() -> None:
    # "spawn": the pool's children import this module afresh; forking the multi-threaded
    # pytest process is not what this test is about (and warns on 3.12+).
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pending = pool.map_async(raise_in_worker, range(6))
        # Before the errors pickled, the pool's result thread died unpickling the error
        # and this wait ran into its timeout: bound it well below the test timeout.
        with pytest.raises(CommandTimeoutError) as info:
            pending.get(timeout=45)
        error = info.value
        assert error.method == "Page.printToPDF" and error.timeout in (1.25, 4.25)
        assert "Page.printToPDF got no answer within" in str(error)
        # The pool is still usable: its result thread survived.
        results: List[Optional[int]] = pool.map(_square_or_none, range(4), chunksize=1)
        assert results == [0, 1, 4, 9]


def _square_or_none(n: int) -> Optional[int]:
    return n * n
