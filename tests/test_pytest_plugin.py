"""syncdp's pytest plugin, run the way users run it: ``pytester`` sessions against real Chromium.

Each test writes a small test suite into a temporary directory and runs pytest on it, in
process (``runpytest``) or as a subprocess when the run must be interrupted or spread over
xdist workers. Leftovers are checked through ``/proc``: every browser process carries its
profile directory, which lives in the run's private ``TMPDIR``, on its command line.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, Sequence, Tuple

import pytest

# Imported here so that pytester's in-process runs reuse these modules instead of importing
# (and then discarding) second copies of them.
import syncdp.browser  # noqa: F401
import syncdp.protocol  # noqa: F401
import syncdp.pytest_plugin
import syncdp.pytest_plugin.browser_context  # noqa: F401
from syncdp.pytest_plugin.messages import REDACTED, redact

pytest_plugins = ["pytester"]
# Most tests run pytest in a process of its own (see setup.cfg's markers and tox.ini).
pytestmark = pytest.mark.programs

CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parent.parent

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs " + CHROMIUM)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _plugin_is_installed() -> bool:
    """Whether an installed syncdp registers the plugin (then pytest loads it by itself)."""
    from importlib.metadata import entry_points

    found = entry_points()
    group = (found.select(group="pytest11") if hasattr(found, "select")
             else found.get("pytest11", []))  # type: ignore[attr-defined]
    return any(ep.name == "syncdp" for ep in group)


# Loading it again with -p as well would register it twice, which pytest refuses.
PLUGIN: Sequence[str] = () if _plugin_is_installed() else ("-p", "syncdp.pytest_plugin")


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def processes_mentioning(marker: str) -> List[str]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % entry) as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append("%s: %s" % (entry, cmdline[:160]))
    return found


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory whose runs turn warnings into errors, like syncdp's own suite."""
    # In-process runs load the plugin this module imported already: pytest then warns that it
    # cannot rewrite its asserts (it has none), which is no fault of the plugin.
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    return pytester


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short private TMPDIR for subprocess runs (their browsers' profiles land there)."""
    # Short: Chromium's singleton socket path must stay under ~107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="sdplug-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# -- fixtures -----------------------------------------------------------------------------


@needs_chromium
@pytest.mark.integration
def test_tab_fixture_runs_in_a_fresh_context_of_one_shared_browser(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_site="""
        import pytest
        from syncdp.localserver import LocalServer

        PIDS = []

        def test_title(tab, browser):
            PIDS.append(browser.process.pid)
            with LocalServer({"/": "<title>Hello</title><p>hi"}) as server:
                tab.go_to(server.url("/"))
            assert tab.title == "Hello"

        def test_sets_a_cookie(context, tab, browser):
            PIDS.append(browser.process.pid)
            context.set_cookies([{"name": "seen", "value": "1", "url": "http://127.0.0.1/"}])
            assert [c["name"] for c in context.get_cookies()] == ["seen"]
            assert [t.target_id for t in context.pages()] == [tab.target_id]

        def test_next_context_has_no_cookies(context, browser):
            PIDS.append(browser.process.pid)
            assert context.get_cookies() == []

        @pytest.mark.syncdp(viewport=(412, 300))
        def test_viewport_marker(tab):
            assert tab.execute_script("[innerWidth, innerHeight]") == [412, 300]

        def test_one_browser_for_the_session():
            assert len(PIDS) == 3 and len(set(PIDS)) == 1

        def test_recording_is_none_when_live(cdp_recording):
            assert cdp_recording is None
        """
    )
    result = suite.runpytest(*PLUGIN)
    result.assert_outcomes(passed=6)


@needs_chromium
@pytest.mark.integration
def test_browser_scope_option_launches_a_browser_per_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_scope="""
        PIDS = []

        def test_one(browser):
            PIDS.append(browser.process.pid)

        def test_two(browser):
            PIDS.append(browser.process.pid)
            assert len(set(PIDS)) == 2
            assert not PIDS[0] == browser.process.pid
        """
    )
    result = suite.runpytest(*PLUGIN, "--syncdp-browser-scope=function")
    result.assert_outcomes(passed=2)


@needs_chromium
@pytest.mark.integration
def test_conftest_fixtures_override_the_plugins(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        """
        import pytest
        from syncdp import Chrome

        MINE = []

        @pytest.fixture(scope="session")
        def browser():
            with Chrome(window_size=(640, 480)) as launched:
                MINE.append(launched)
                yield launched

        @pytest.fixture
        def chromium():
            return "the suite's own chromium fixture"
        """
    )
    suite.makepyfile(
        test_override="""
        from conftest import MINE

        def test_context_uses_the_conftest_browser(context):
            assert context.browser is MINE[0]

        def test_other_fixtures_keep_working(chromium):
            assert chromium == "the suite's own chromium fixture"
        """
    )
    result = suite.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2)


@needs_chromium
@pytest.mark.integration
def test_a_stopped_shared_browser_is_launched_again_for_the_next_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_restart="""
        def test_stops_it(browser):
            browser.stop()

        def test_next_one_still_gets_a_tab(tab, browser):
            assert browser.started
            assert tab.execute_script("6 * 7") == 42
        """
    )
    suite.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_closest_marker_wins_per_option(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_markers="""
        import pytest
        from syncdp.pytest_plugin import MarkerOptions, marker_options

        pytestmark = pytest.mark.syncdp(headless=False, viewport=(800, 600))

        @pytest.mark.syncdp(viewport=[320, 480])
        def test_function_marker_overrides_the_module_one(request):
            assert marker_options(request.node) == MarkerOptions(headless=False, viewport=(320, 480))
        """
    )
    suite.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_tests_without_its_fixtures_launch_no_browser(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "tmp"  # a launched browser's temporary profile would land here
    profiles.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(profiles))
    suite.makepyfile(
        test_plain="""
        import os, sys, tempfile, threading

        def test_plain():
            assert "syncdp.pytest_plugin" in sys.modules  # loaded, and idle:
            assert os.listdir(tempfile.gettempdir()) == []  # no browser profile
            assert not [t for t in threading.enumerate() if t.name.startswith("syncdp-")]
        """
    )
    result = suite.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)


@needs_chromium
def test_syncdp_pipe_runs_the_browser_fixture_on_a_pipe(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        # Not "test_pipe": pytester runs in this process, where tests/integration/test_pipe.py
        # may already be imported under that name.
        test_plugin_on_a_pipe="""
        def test_on_a_pipe(browser, tab):
            assert browser.process.options.pipe is True
            assert browser.process.pipe is not None
            assert tab.execute_script("6 * 7") == 42
        """
    )
    suite.runpytest(*PLUGIN, "--syncdp-pipe").assert_outcomes(passed=1)


# -- options and marker errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--syncdp-record-mode=sometimes"], "invalid choice: 'sometimes'"),
        (["-o", "syncdp_browser_scope=forever"], "syncdp_browser_scope must be one of"),
    ],
)
def test_bad_or_unavailable_options_are_usage_errors(
    suite: pytest.Pytester, args: List[str], message: str
) -> None:
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = suite.runpytest(*PLUGIN, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_bad_marker_arguments_fail_the_test_naming_the_argument(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.syncdp(viewport=(0, 300))
        def test_viewport(tab):
            pass

        @pytest.mark.syncdp(headles=True)
        def test_typo(tab):
            pass

        @pytest.mark.syncdp(record_mode="sometimes")
        def test_record(tab):
            pass
        """
    )
    result = suite.runpytest(*PLUGIN)
    result.assert_outcomes(errors=3)
    output = result.stdout.str()
    assert "InvalidCommand: @pytest.mark.syncdp: viewport must be (width, height)" in output
    assert "unknown argument(s) headles" in output
    assert "record_mode must be one of none, once, all, new, got 'sometimes'" in output


# -- record and replay --------------------------------------------------------------------

RECORDED_SITE = """
import pytest

PAGE = ("data:text/html,<title>Hello</title>"
        "<button onclick='window.n = (window.n || 0) + 1'>go</button>")

def test_click(tab, cdp_recording):
    tab.go_to(PAGE)
    assert tab.title == "Hello"
    tab.query("button").click()
    assert tab.execute_script("return window.n") == CLICKS
    assert cdp_recording.name == "test_click.cdp.jsonl.gz"

@pytest.mark.syncdp(record_mode="all", viewport=(400, 300))
def test_marker_mode(tab):
    assert tab.execute_script("return [innerWidth, innerHeight]") == [400, 300]
"""


def _hide_browsers(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Tuple[Path, Path]:
    """No browser on PATH nor in SYNCDP_BROWSER; a fake one that leaves a marker if run."""
    marker = directory / "a-browser-was-launched"
    fake = directory / "fake-chromium"
    fake.write_text("#!/bin/sh\ntouch '%s'\nexit 1\n" % marker)
    fake.chmod(0o755)
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any(os.path.exists(os.path.join(d, n)) for n in names)]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))
    monkeypatch.delenv("SYNCDP_BROWSER", raising=False)
    return fake, marker


@needs_chromium
@pytest.mark.integration
def test_record_mode_once_records_and_none_replays_with_no_browser(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite.makepyfile(test_site=RECORDED_SITE.replace("CLICKS", "1"))
    recordings = suite.path / "cdp_recordings" / "test_site"
    result = suite.runpytest(*PLUGIN, "--syncdp-record-mode=once")
    result.assert_outcomes(passed=2)
    assert sorted(p.name for p in recordings.iterdir()) == [
        "test_click.cdp.jsonl.gz", "test_marker_mode.cdp.jsonl.gz"]

    fake, marker = _hide_browsers(monkeypatch, tmp_path)
    # test_marker_mode says record_mode="all": it alone needs a browser, deselected here.
    result = suite.runpytest(*PLUGIN, "--syncdp-record-mode=none", "--syncdp-browser=%s" % fake,
                             "-k", "test_click")
    result.assert_outcomes(passed=1, deselected=1)
    assert not marker.exists(), "the replay launched a browser"

    # The test changed (two clicks): "new" fails it on the first command the recording lacks
    # and deletes the recording, so that the next run records it again.
    suite.makepyfile(test_site=RECORDED_SITE.replace("CLICKS", "1").replace(
        'tab.go_to(PAGE)', 'tab.go_to(PAGE + "<p>changed")'))
    result = suite.runpytest(*PLUGIN, "--syncdp-record-mode=new", "-k", "test_click")
    result.assert_outcomes(failed=1, deselected=1)
    assert "ReplayMismatchError: Page.navigate (command #" in result.stdout.str()
    assert not (recordings / "test_click.cdp.jsonl.gz").exists()
    assert not marker.exists()


def test_record_mode_none_without_a_recording_fails_the_test_saying_how_to_record(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_new="def test_new(tab):\n    pass\n")
    result = suite.runpytest(*PLUGIN, "--syncdp-record-mode=none")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "no CDP recording at" in output and "--syncdp-record-mode=once" in output
    assert not (suite.path / "cdp_recordings" / "test_new").exists()


# -- failure artifacts --------------------------------------------------------------------


@needs_chromium
@pytest.mark.integration
def test_failure_saves_screenshots_and_redacted_cdp_messages_named_in_the_report(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_fails="""
        from syncdp.localserver import LocalServer

        def test_passes(tab):
            tab.go_to("data:text/html,<title>fine</title>")

        def test_fails(context, tab):
            for n in range(150):                     # pushes the oldest messages out
                tab.execute_script("%d + 1" % n)
            second = context.new_tab("data:text/html,<title>second</title>")
            with LocalServer({"/": "<title>Shop</title><p>basket"}) as server:
                tab.send("Network.enable")
                tab.send("Network.setExtraHTTPHeaders",
                         {"headers": {"Authorization": "Bearer t0ken-secret"}})
                tab.send("Network.setCookie",
                         {"name": "sid", "value": "c00kie-secret", "url": server.url("/")})
                tab.go_to(server.url("/"))
                tab.send("Network.getCookies")
            assert tab.title == "Checkout"
        """
    )
    result = suite.runpytest(*PLUGIN, "--syncdp-artifacts=out")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    directory = suite.path / "out" / "test_fails.py-test_fails"
    assert "syncdp artifacts" in output
    assert str(directory / "cdp-messages.jsonl") in output
    assert str(directory / "tab-1.png") in output and str(directory / "tab-2.png") in output
    assert sorted(p.name for p in directory.iterdir()) == ["cdp-messages.jsonl", "tab-1.png", "tab-2.png"]
    for png in ("tab-1.png", "tab-2.png"):
        assert (directory / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not (suite.path / "out" / "test_fails.py-test_passes").exists()

    text = (directory / "cdp-messages.jsonl").read_text(encoding="utf-8")
    messages = [json.loads(line) for line in text.splitlines()]
    assert len(messages) == 200
    assert re.search(r"the last 200 of (\d+) CDP messages, redacted", output)
    methods = [m["method"] for m in messages]
    assert "Network.setExtraHTTPHeaders" in methods and "Network.requestWillBeSent" in methods
    assert "Page.navigate" in methods and "Page.loadEventFired" in methods
    assert "t0ken-secret" not in text and "c00kie-secret" not in text
    assert REDACTED in text
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)


def test_redaction_covers_header_dicts_name_value_lists_cookies_and_raw_headers() -> None:
    message = {
        "headers": {"Authorization": "Bearer a", "cookie": "b=1", "Accept": "text/html"},
        "list": [{"name": "Set-Cookie", "value": "c=2"}, {"name": "X-Ok", "value": "ok"}],
        "cookies": [{"name": "d", "value": "3", "domain": "example.test", "path": "/"}],
        "headersText": "HTTP/1.1 200 OK\r\nSet-Cookie: e=4\r\nContent-Type: text/html\r\n",
        "property": {"name": "value", "value": {"type": "number", "value": 5}},
        "data": "x" * 5000,
    }
    redacted = redact(message)
    assert redacted["headers"] == {"Authorization": REDACTED, "cookie": REDACTED, "Accept": "text/html"}
    assert redacted["list"] == [{"name": "Set-Cookie", "value": REDACTED}, {"name": "X-Ok", "value": "ok"}]
    assert redacted["cookies"][0]["value"] == REDACTED and redacted["cookies"][0]["name"] == "d"
    assert "e=4" not in redacted["headersText"] and "Content-Type: text/html" in redacted["headersText"]
    assert redacted["property"] == message["property"]  # not a cookie: kept
    assert redacted["data"].endswith("[5000 chars]") and len(redacted["data"]) < 2100
    assert message["headers"]["Authorization"] == "Bearer a"  # the original is untouched


# -- launch options -----------------------------------------------------------------------

# Records its command line, then runs the real browser; a headed launch stops there (this
# machine has no display), which is all the test needs to see.
FAKE_BROWSER = """#!{python}
import json, os, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
if not any(arg.startswith("--headless") for arg in sys.argv[1:]):
    sys.exit(3)
os.execv({chromium!r}, [{chromium!r}] + sys.argv[1:])
"""


@needs_chromium
@pytest.mark.integration
def test_browser_and_headed_options_and_the_headless_marker_reach_the_launch(
    suite: pytest.Pytester,
) -> None:
    log = suite.path / "launches.jsonl"
    fake = suite.path / "fake-chromium"
    fake.write_text(FAKE_BROWSER.format(python=sys.executable, log=str(log), chromium=CHROMIUM))
    fake.chmod(0o755)
    suite.makepyfile(
        test_launch="""
        import pytest

        @pytest.mark.syncdp(headless=True)
        def test_headless_marker_gets_its_own_browser(context, tab):
            assert "HeadlessChrome" in context.browser.version()["userAgent"]

        def test_headed(tab):
            pass
        """
    )
    result = suite.runpytest(*PLUGIN, "--syncdp-browser", str(fake), "--syncdp-headed")
    result.assert_outcomes(passed=1, errors=1)
    assert "BrowserLaunchError" in result.stdout.str()
    launches = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(launches) == 2
    assert "--headless=new" in launches[0]
    assert not any(arg.startswith("--headless") for arg in launches[1])


# -- xdist and interruptions --------------------------------------------------------------


@needs_chromium
@linux_only
@pytest.mark.integration
def test_xdist_runs_one_browser_per_worker(suite: pytest.Pytester, private_tmp: Path) -> None:
    pytest.importorskip("xdist")
    pids = suite.path / "pids.txt"
    suite.makepyfile(
        test_workers="""
        import os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_record_pid(n, tab, browser):
            with open(%r, "a") as fh:
                fh.write("%%s %%d\\n" %% (os.environ["PYTEST_XDIST_WORKER"], browser.process.pid))
        """ % str(pids)
    )
    result = suite.runpytest_subprocess(*PLUGIN, "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    lines = [line.split() for line in pids.read_text().splitlines()]
    workers = {worker: {pid for w, pid in lines if w == worker} for worker, _ in lines}
    assert len(lines) == 4 and len(workers) == 2
    assert all(len(found) == 1 for found in workers.values())  # one browser per worker
    assert len({pid for _, pid in lines}) == 2
    assert wait_until(lambda: processes_mentioning(str(private_tmp)) == [])
    assert wait_until(lambda: os.listdir(private_tmp) == [])


INTERRUPTED_SUITE = """
import os
import pytest

@pytest.mark.timeout({timeout}, method="thread", func_only=True)
def test_runs_until_interrupted(tab):
    tab.go_to("data:text/html,<title>busy</title>")
    open({ready!r}, "w").close()
    while True:
        tab.execute_script("1 + 1")
"""


@needs_chromium
@linux_only
@pytest.mark.integration
@pytest.mark.parametrize("how", ["ctrl-c", "pytest-timeout"])
def test_an_interrupted_run_leaves_no_browser_and_no_profile(
    suite: pytest.Pytester, private_tmp: Path, how: str
) -> None:
    ready = suite.path / "ready"
    # The thread method of pytest-timeout ends the process with os._exit: no teardown runs.
    timeout = 3600 if how == "ctrl-c" else 3
    suite.makepyfile(test_interrupted=INTERRUPTED_SUITE.format(timeout=timeout, ready=str(ready)))
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *PLUGIN, "-p", "no:cacheprovider", "-q"],
        cwd=str(suite.path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert wait_until(ready.exists, 60), "the test never started"
        assert processes_mentioning(str(private_tmp)), "no browser runs during the test"
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ("KeyboardInterrupt" if how == "ctrl-c" else "Timeout") in output, output
    assert wait_until(lambda: processes_mentioning(str(private_tmp)) == []), processes_mentioning(
        str(private_tmp))
    assert wait_until(lambda: os.listdir(private_tmp) == []), os.listdir(private_tmp)


# -- packaging ----------------------------------------------------------------------------


def test_setup_cfg_entry_point_loads_the_plugin(suite: pytest.Pytester, tmp_path: Path) -> None:
    """A distribution with setup.cfg's pytest11 entry point makes pytest load the plugin."""
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    entry_points = config["options.entry_points"]["pytest11"].strip()
    assert entry_points == "syncdp = syncdp.pytest_plugin"
    site = tmp_path / "site"
    dist_info = site / "syncdp_entry_point_check-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: syncdp-entry-point-check\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[pytest11]\n%s\n" % entry_points)
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    env_path = os.pathsep.join(filter(None, [str(site), str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=str(suite.path), capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=env_path), timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--syncdp-browser=PATH" in proc.stdout and "--syncdp-record-mode" in proc.stdout
