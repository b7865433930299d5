"""syncdp's pytest plugin: ``browser``, ``context`` and ``tab`` fixtures, failure artifacts.

Installed with syncdp (entry point ``pytest11``, name ``syncdp``); from a source checkout
load it with ``-p syncdp.pytest_plugin``. Nothing happens unless a test asks for one of
its fixtures: no browser is launched at import or at session start.

Fixtures
    ``browser``: a launched :class:`~syncdp.Chrome`, one per session by default (per
    xdist worker); ``--syncdp-browser-scope`` or the ``syncdp_browser_scope`` ini option
    makes it ``package``, ``module``, ``class`` or ``function`` scoped. Override it in a
    ``conftest.py`` (e.g. with :func:`syncdp.connect`) and the other fixtures use yours.
    ``context``: a :class:`~syncdp.pytest_plugin.browser_context.BrowserContext` per test: cookies,
    storage and cache isolated from every other test; closed after the test.
    ``tab``: a new :class:`~syncdp.Tab` in that context.
    ``cdp_recording``: the test's recording file while recording or replaying, else ``None``.

Record and replay (``--syncdp-record-mode`` or ``@pytest.mark.syncdp(record_mode=...)``,
vcrpy's modes): a test using ``context``/``tab`` gets a browser of its own, recorded into
(or replayed from, launching nothing) ``<test dir>/cdp_recordings/<module>/<test>.cdp.jsonl.gz``:

* ``none``: replay only; a test without a recording fails (nothing is ever recorded);
* ``once``: replay the recording if there is one, else record one;
* ``new``: as ``once``, and a recording the test no longer matches (a
  ``ReplayMismatchError``) is deleted, so the next run records it anew;
* ``all``: record every test again (live), replacing its recording.

A recording is kept only when its test passed. The ``browser`` fixture itself always runs live.

Options: see ``pytest --help`` (group "syncdp") and docs/testing.md.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Generator, Iterator, Optional, Tuple, cast

import pytest

from syncdp.exceptions import InvalidCommand, SyncdpError

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.browser import Browser, Chrome
    from syncdp.pytest_plugin.browser_context import BrowserContext
    from syncdp.tab import Tab

__all__ = ["RECORD_MODES", "SCOPES", "Settings", "MarkerOptions", "marker_options", "recording_path"]

RECORD_MODES = ("none", "once", "all", "new")
SCOPES = ("session", "package", "module", "class", "function")
DEFAULT_ARTIFACTS = "syncdp-artifacts"
MARKER_FIELDS = ("headless", "viewport", "record_mode")
RECORDINGS_DIR = "cdp_recordings"


@dataclass(frozen=True)
class Settings:
    """The plugin's options for this run (command line and ini file)."""

    browser_path: Optional[str]
    headless: bool
    pipe: bool
    record_mode: Optional[str]
    artifacts: Path
    scope: str


@dataclass(frozen=True)
class MarkerOptions:
    """What ``@pytest.mark.syncdp(...)`` asks for one test (``None``: the run's setting)."""

    headless: Optional[bool] = None
    viewport: Optional[Tuple[int, int]] = None
    record_mode: Optional[str] = None


_SETTINGS = pytest.StashKey[Settings]()
_CONTEXT = pytest.StashKey["BrowserContext"]()
_CALL_ERROR = pytest.StashKey[Optional[BaseException]]()  # the test's own failure, if any


# -- options ------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--syncdp-*`` options and the ``syncdp_*`` ini options."""
    group = parser.getgroup("syncdp", "syncdp browser fixtures (browser, context, tab)")
    group.addoption("--syncdp-browser", metavar="PATH", default=None,
                    help="the Chromium/Chrome executable (default: found automatically)")
    group.addoption("--syncdp-headed", action="store_true", default=False,
                    help="run the browser with a window (default: headless)")
    group.addoption("--syncdp-pipe", action="store_true", default=False,
                    help="talk to the browser over --remote-debugging-pipe, not a websocket")
    group.addoption("--syncdp-record-mode", choices=RECORD_MODES, default=None,
                    help="record CDP sessions or replay them: none (replay only), once (replay, "
                         "or record when missing), new (as once; a stale recording is deleted), "
                         "all (record again)")
    group.addoption("--syncdp-artifacts", metavar="DIR", default=None,
                    help="where failing tests' screenshots and CDP messages go "
                         "(default: ini syncdp_artifacts, else %s/)" % DEFAULT_ARTIFACTS)
    group.addoption("--syncdp-browser-scope", choices=SCOPES, default=None,
                    help="scope of the browser fixture (default: ini syncdp_browser_scope, "
                         "else session)")
    parser.addini("syncdp_browser_scope", "scope of the syncdp browser fixture: %s"
                  % ", ".join(SCOPES), default="session")
    parser.addini("syncdp_artifacts", "directory for syncdp's failure artifacts",
                  default=DEFAULT_ARTIFACTS)


def _chrome_accepts(name: str) -> bool:
    from syncdp.browser import Chrome

    return name in inspect.signature(Chrome).parameters


def _read_settings(config: pytest.Config) -> Settings:
    scope = config.getoption("syncdp_browser_scope") or config.getini("syncdp_browser_scope")
    if scope not in SCOPES:
        raise pytest.UsageError(
            "syncdp_browser_scope must be one of %s, got %r" % (", ".join(SCOPES), scope)
        )
    record_mode = config.getoption("syncdp_record_mode")
    pipe = bool(config.getoption("syncdp_pipe"))
    if pipe and not _chrome_accepts("pipe"):
        raise pytest.UsageError(
            "--syncdp-pipe needs syncdp.Chrome(pipe=...), which this version of syncdp does not "
            "have yet: run without --syncdp-pipe (the browser is reached over a websocket)"
        )
    artifacts = Path(config.getoption("syncdp_artifacts") or config.getini("syncdp_artifacts"))
    if not artifacts.is_absolute():
        artifacts = Path(config.invocation_params.dir) / artifacts
    return Settings(
        browser_path=config.getoption("syncdp_browser"),
        headless=not config.getoption("syncdp_headed"),
        pipe=pipe,
        record_mode=record_mode,
        artifacts=artifacts,
        scope=str(scope),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``syncdp`` marker and check the options (nothing is launched here)."""
    config.addinivalue_line(
        "markers",
        "syncdp(headless=None, viewport=None, record_mode=None): options of the syncdp "
        "context and tab fixtures for this test (viewport=(width, height))",
    )
    config.stash[_SETTINGS] = _read_settings(config)


def _settings(config: pytest.Config) -> Settings:
    return config.stash[_SETTINGS]


def _check_viewport(viewport: Any) -> Optional[Tuple[int, int]]:
    if viewport is None:
        return None
    if (
        isinstance(viewport, (tuple, list))
        and len(viewport) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in viewport)
    ):
        return int(viewport[0]), int(viewport[1])
    raise InvalidCommand(
        "@pytest.mark.syncdp: viewport must be (width, height) in positive int pixels, got %r"
        % (viewport,)
    )


def marker_options(node: pytest.Item) -> MarkerOptions:
    """The test's ``@pytest.mark.syncdp`` options, the closest marker winning per option.

    Raises:
        InvalidCommand: a positional argument, an unknown option or a bad value (named).
    """
    merged: Dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers("syncdp"))):  # farthest first
        if mark.args:
            raise InvalidCommand(
                "@pytest.mark.syncdp takes keyword arguments only (%s), got %r"
                % (", ".join(MARKER_FIELDS), mark.args)
            )
        unknown = sorted(set(mark.kwargs) - set(MARKER_FIELDS))
        if unknown:
            raise InvalidCommand(
                "@pytest.mark.syncdp got unknown argument(s) %s; known: %s"
                % (", ".join(unknown), ", ".join(MARKER_FIELDS))
            )
        merged.update(mark.kwargs)
    headless = merged.get("headless")
    if headless is not None and not isinstance(headless, bool):
        raise InvalidCommand("@pytest.mark.syncdp: headless must be True or False, got %r" % (headless,))
    record_mode = merged.get("record_mode")
    if record_mode is not None and record_mode not in RECORD_MODES:
        raise InvalidCommand(
            "@pytest.mark.syncdp: record_mode must be one of %s, got %r"
            % (", ".join(RECORD_MODES), record_mode)
        )
    return MarkerOptions(headless, _check_viewport(merged.get("viewport")), record_mode)


# -- fixtures -----------------------------------------------------------------------------


def _browser_scope(fixture_name: str, config: pytest.Config) -> Any:
    return _settings(config).scope


def _launch(settings: Settings, headless: bool) -> "Chrome":
    from syncdp.browser import Chrome

    options: Dict[str, Any] = {"headless": headless}
    if settings.pipe:
        options["pipe"] = True
    return Chrome(settings.browser_path, **options)


@pytest.fixture(scope=_browser_scope)
def browser(pytestconfig: pytest.Config) -> Iterator["Browser"]:
    """A launched headless Chromium (:class:`syncdp.Chrome`), one per session by default.

    ``--syncdp-browser``, ``--syncdp-headed`` and ``--syncdp-browser-scope`` choose which,
    how and how long; stopped (process and temporary profile gone) when its scope ends.
    """
    settings = _settings(pytestconfig)
    with _launch(settings, settings.headless) as launched:
        yield launched


def _shared_browser(request: pytest.FixtureRequest) -> "Browser":
    from syncdp.browser import Chrome

    shared = cast("Browser", request.getfixturevalue("browser"))
    if isinstance(shared, Chrome) and not shared.started:
        shared.start()  # an earlier test stopped it or it crashed: launch it again
    return shared


@pytest.fixture
def context(request: pytest.FixtureRequest) -> Iterator["BrowserContext"]:
    """A fresh browser context for this test: cookies, storage and cache of its own.

    Its tabs' CDP traffic is kept for the failure artifacts. A test marked with a
    ``headless=`` other than the run's gets a browser of its own, stopped after it.
    """
    from syncdp.pytest_plugin.browser_context import BrowserContext

    settings = _settings(request.config)
    marker = marker_options(request.node)
    mode = marker.record_mode or settings.record_mode
    with ExitStack() as stack:
        if mode is not None:
            headless = settings.headless if marker.headless is None else marker.headless
            own = stack.enter_context(_recorded_browser(request, settings, headless, mode))
            created = BrowserContext(own, viewport=marker.viewport)
        elif marker.headless is not None and marker.headless != settings.headless:
            own = stack.enter_context(_launch(settings, marker.headless))
            created = BrowserContext(own, viewport=marker.viewport)
        else:
            created = BrowserContext(_shared_browser(request), viewport=marker.viewport)
        stack.callback(created.close)
        request.node.stash[_CONTEXT] = created
        try:
            yield created
        finally:
            del request.node.stash[_CONTEXT]


@pytest.fixture
def tab(context: "BrowserContext") -> "Tab":
    """A new tab (about:blank) in the test's :func:`context`; closed with it."""
    return context.new_tab()


@pytest.fixture
def cdp_recording(request: pytest.FixtureRequest) -> Optional[Path]:
    """The test's CDP recording file while it is recorded or replayed (``record_mode``),
    ``None`` while it runs live."""
    if (marker_options(request.node).record_mode or _settings(request.config).record_mode) is None:
        return None
    return recording_path(request.node)


def recording_path(node: pytest.Item) -> Path:
    """``<test dir>/cdp_recordings/<module>/<test>.cdp.jsonl.gz`` for a test item."""
    module = Path(str(node.path))
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", node.name).strip("-") or "test"
    return module.parent / RECORDINGS_DIR / module.stem / ("%s.cdp.jsonl.gz" % name)


@contextmanager
def _recorded_browser(
    request: pytest.FixtureRequest, settings: Settings, headless: bool, mode: str
) -> Iterator["Chrome"]:
    """The test's own browser: replaying its recording, or recording one (kept if it passes)."""
    from syncdp.browser import Chrome
    from syncdp.exceptions import ReplayMismatchError

    path = recording_path(request.node)
    if mode == "all" or (mode in ("once", "new") and not path.exists()):
        partial = path.with_name(".partial-" + path.name)  # (still .gz: compressed)
        pipe: Dict[str, Any] = {"pipe": True} if settings.pipe else {}
        with Chrome(settings.browser_path, headless=headless, record=str(partial), **pipe) as recording:
            yield recording
        if request.node.stash.get(_CALL_ERROR, None) is None and partial.exists():
            os.replace(partial, path)  # only a passing test's recording is worth replaying
        else:
            partial.unlink()
        return
    if not path.exists():
        raise SyncdpError(
            "no CDP recording at %s, and record_mode=none never records one: run once with "
            "--syncdp-record-mode=once to record it" % path
        )
    try:
        with Chrome(replay=str(path), headless=headless) as replayed:
            yield replayed
    except ReplayMismatchError:  # recorded commands never sent
        if mode == "new":
            path.unlink()
        if request.node.stash.get(_CALL_ERROR, None) is None:
            raise
        return  # the test failed already: that failure is the news
    if mode == "new" and isinstance(request.node.stash.get(_CALL_ERROR, None), ReplayMismatchError):
        path.unlink()  # the test changed: the next run records it again


# -- failure artifacts --------------------------------------------------------------------


def _artifact_dir(root: Path, nodeid: str) -> Path:
    """``root/<nodeid as a file name>``: readable, unique (a hash when shortened)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", nodeid).strip("-") or "test"
    if len(name) > 100:
        name = "%s-%s" % (name[:90], hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8])
    return root / name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: "pytest.CallInfo[None]"
) -> Generator[None, Any, None]:
    """On a failed test that used ``context``/``tab``: save screenshots of every tab of its
    context and its last CDP messages, and name them in a "syncdp artifacts" report section."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.when == "call":
        item.stash[_CALL_ERROR] = call.excinfo.value if call.excinfo is not None else None
    context_ = item.stash.get(_CONTEXT, None)
    if context_ is None or not report.failed or call.when == "teardown":
        return
    directory = _artifact_dir(_settings(item.config).artifacts, item.nodeid)
    try:
        lines = context_.save_artifacts(directory)
    except (SyncdpError, OSError) as exc:
        lines = ["saving the artifacts into %s failed: %s" % (directory, exc)]
    report.sections.append(("syncdp artifacts", "\n".join(lines)))
