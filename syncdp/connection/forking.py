"""Fork safety: what a process forked from a syncdp user must renew before it uses syncdp.

``os.fork()`` (and ``multiprocessing``'s "fork" start method, Celery's prefork pool, gunicorn's
workers) copies the parent's memory but only the forking thread: every reader and dispatcher
thread is gone in the child, the parent's sockets are shared with it, and a lock that another
thread held at that instant stays held for ever in the child. The parent must not notice
anything; the child must be able to carry on with its inherited objects.

So, in the child, right after the fork and before anything else runs
(``os.register_at_fork(after_in_child=...)``, as CPython's logging and concurrent.futures do,
and dd-trace-py's ``forksafe`` registry):

1. Every ``threading.Lock`` and ``RLock`` reachable from a registered object (see
   :func:`track`) or held in a syncdp module's globals is replaced by a fresh, unlocked one; a
   lock shared by two objects is replaced by one shared fresh lock.
2. The hooks registered with :func:`on_fork_in_child` run: the connection core forgets its
   inherited socket without a close handshake (the parent still uses it) and reconnects on
   first use, as after a lost connection; the launcher stops reading the watchdog's reports
   and closes its copy of the watchdog's pipe.

:func:`check_runtime` detects the other way a process changes under syncdp's feet: gevent's
``monkey.patch_all()`` applied after syncdp objects were made (their locks are real OS locks,
which greenlets block on for ever).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from concurrent.futures import Future
from types import FunctionType, MethodType, ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

from syncdp.exceptions import IncompatibleRuntimeError

__all__ = ["check_runtime", "lock_factory", "on_fork_in_child", "renew_locks", "track"]

logger = logging.getLogger(__name__)

# Each lock type and the factory of a fresh one (as they were at import time).
_FACTORIES: Dict[type, Callable[[], Any]] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}
_LOCK_TYPES = tuple(_FACTORIES)
_CONTAINERS = (list, tuple, set, frozenset, dict)

_tracked: "weakref.WeakSet[Any]" = weakref.WeakSet()
_hooks: "weakref.WeakKeyDictionary[Any, Callable[[Any], None]]" = weakref.WeakKeyDictionary()


def track(obj: Any) -> None:
    """Renew the locks reachable from ``obj`` in a forked child (weakly: no leak)."""
    _tracked.add(obj)


def on_fork_in_child(obj: Any, hook: Callable[[Any], None]) -> None:
    """Call ``hook(obj)`` in a forked child while ``obj`` lives (after the locks are renewed).

    ``hook`` must not refer to ``obj`` itself (an unbound function), or ``obj`` never dies.
    """
    _hooks[obj] = hook
    _tracked.add(obj)


def _is_syncdp(obj: Any) -> bool:
    return type(obj).__module__.startswith("syncdp.")


def _attributes(obj: Any) -> Dict[str, Any]:
    try:
        attributes: Dict[str, Any] = vars(obj)
    except TypeError:  # __slots__ only: none of syncdp's lock holders
        return {}
    return attributes


class _Renewer:
    """One walk over the object graph; the same old lock always gets the same new one."""

    def __init__(self) -> None:
        # id -> (the lock, its replacement); fresh locks map to themselves. Both are kept
        # alive for the whole walk, so that no id is reused by another lock meanwhile.
        self.fresh: Dict[int, Tuple[Any, Any]] = {}
        self.seen: set[int] = set()
        self.renewed = 0

    def lock_for(self, old: Any) -> Any:
        known = self.fresh.get(id(old))
        if known is not None:
            return known[1]
        new = _FACTORIES[type(old)]()
        self.fresh[id(old)] = (old, new)
        self.fresh[id(new)] = (new, new)
        self.renewed += 1
        return new

    def walk(self, root: Any) -> None:
        stack: List[Any] = [root]
        while stack:
            obj = stack.pop()
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            if isinstance(obj, Future):
                # A command's future is walked for its Condition only (built lazily by
                # Future's own methods; a dead parent thread may hold it). Its ``completed``
                # lock is held on purpose until an answer comes: never renewed.
                self._renew_future(obj)
            elif isinstance(obj, _CONTAINERS):
                stack.extend(obj.values() if isinstance(obj, dict) else obj)
            elif isinstance(obj, MethodType):
                stack.append(obj.__self__)
            elif isinstance(obj, FunctionType) and obj.__module__.startswith("syncdp."):
                stack.extend(cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
            elif _is_syncdp(obj):
                self._renew_attributes(obj, stack)

    def _renew_attributes(self, obj: Any, stack: List[Any]) -> None:
        attributes = _attributes(obj)
        for name, value in list(attributes.items()):
            if type(value) in _LOCK_TYPES:
                attributes[name] = self.lock_for(value)
            else:
                if isinstance(value, dict):
                    self._renew_in_dict(value)
                stack.append(value)

    def _renew_in_dict(self, mapping: Dict[Any, Any]) -> None:
        for key, value in list(mapping.items()):
            if type(value) in _LOCK_TYPES:
                mapping[key] = self.lock_for(value)

    def _renew_future(self, future: "Future[Any]") -> None:
        state = _attributes(future)
        # concurrent.futures.Future's private Condition, replaced as CPython's own fork
        # handlers replace theirs: unavoidable, a dead thread may hold it.
        if "_condition" in state:
            state["_condition"] = threading.Condition()

    def renew_module(self, module: ModuleType) -> None:
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if type(value) in _LOCK_TYPES:
                namespace[name] = self.lock_for(value)
            elif isinstance(value, dict):
                self._renew_in_dict(value)


def _filled(cell: Any) -> bool:
    try:
        return cell.cell_contents is not cell  # any value: the cell is filled
    except ValueError:  # an empty cell
        return False


def renew_locks(roots: List[Any]) -> int:
    """Replace every lock reachable from ``roots`` and in syncdp's module globals; how many."""
    renewer = _Renewer()
    for name, module in list(sys.modules.items()):
        if (name == "syncdp" or name.startswith("syncdp.")) and module is not None:
            renewer.renew_module(module)
    for root in roots:
        renewer.walk(root)
    return renewer.renewed


def _after_fork_in_child() -> None:
    """The child's first step: fresh locks, then each registered hook (never raises)."""
    try:
        roots = list(_tracked)
        renewed = renew_locks(roots)
        for obj, hook in list(_hooks.items()):
            hook(obj)
        logger.debug("forked from pid %d: %d lock(s) renewed", os.getppid(), renewed)
    except Exception:  # pragma: no cover - a fork must never fail because of syncdp
        logger.exception("syncdp: renewing state after fork failed")


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- gevent -----------------------------------------------------------------------------------


def lock_factory() -> Any:
    """What ``threading.Lock`` is now (gevent's ``patch_all`` replaces it)."""
    return threading.Lock


def check_runtime(made_with: Any, what: str) -> None:
    """Raise if ``threading`` was monkey-patched (gevent) after ``what`` was made.

    Args:
        made_with: :func:`lock_factory` as it was when the object was made.
        what: the object, for the message.

    Raises:
        IncompatibleRuntimeError: the object's locks and threads are real OS ones while the
            program now runs greenlets: using it would block the whole process.
    """
    if threading.Lock is made_with:
        return
    patcher = _patcher()
    raise IncompatibleRuntimeError(
        "%s was created before threading was monkey-patched%s: its locks and threads are real "
        "OS ones that greenlets would block on for ever. Patch first: call "
        "gevent.monkey.patch_all() before importing syncdp (the first lines of the program; "
        "gunicorn -k gevent does it for you), and create the browser after patching"
        % (what, " (by %s)" % patcher if patcher else "")
    )


def _patcher() -> Optional[str]:
    gevent_monkey = sys.modules.get("gevent.monkey")
    is_patched = getattr(gevent_monkey, "is_module_patched", None)
    if is_patched is not None and is_patched("threading"):
        return "gevent.monkey.patch_all()"
    return None
