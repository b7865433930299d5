"""The README's set-up and the environment the suite runs in.

* ``bootstrap`` tests run ``./dev`` (the README's two commands) in a copy of this tree with
  ``PATH`` cut down to the system default (``os.defpath``): only the distribution's
  ``python3`` is there. They take minutes and use the network (PyPI), so they run once per
  machine, in ``tox -e bootstrap`` (``SYNCDP_TEST_BOOTSTRAP=1``), not once per Python.
* The SIGINT tests check that a runner started with SIGINT ignored (a shell's ``&``, ``nohup``,
  some CI runners) does not make the Ctrl-C tests fail (``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ["3.9", "3.10", "3.11", "3.12", "3.13"]
# A stock machine's environment: PATH and HOME, plus what a user sets to reach PyPI.
PASSED_THROUGH = re.compile(
    r"^(HOME|USER|LANG|LC_ALL|TMPDIR|PYENV_ROOT|PIP_.*|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy"
    r"|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE)$"
)
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".tox", ".venv*", "__pycache__", "*.egg-info", "build", "dist", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", "typings", "*.png", "*.pdf",
)


# -- SIGINT ------------------------------------------------------------------------------------


def test_sigint_raises_keyboard_interrupt_in_a_test() -> None:
    deadline = time.monotonic() + 5
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        while time.monotonic() < deadline:  # the handler runs between bytecodes, at once
            time.sleep(0.01)


def test_subprocesses_of_a_test_get_ctrl_c_back() -> None:
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "True"


def test_ctrl_c_tests_pass_when_the_runner_ignores_sigint() -> None:
    this = Path(__file__).relative_to(REPO_ROOT)
    tests = ["%s::%s" % (this, name) for name in (
        "test_sigint_raises_keyboard_interrupt_in_a_test",
        "test_subprocesses_of_a_test_get_ctrl_c_back",
    )]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *tests],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `nohup` does
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_in_ci_a_missing_chromium_stops_the_run_instead_of_skipping() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/test_package_namespace.py"],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), CI="true",
                 SYNCDP_TEST_CHROMIUM="/nonexistent/chromium"),
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "no Chromium at /nonexistent/chromium" in result.stderr


def _load_dev_script() -> Any:
    loader = importlib.machinery.SourceFileLoader("syncdp_dev_script", str(REPO_ROOT / "dev"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get path without sudo is taken as root")
def test_dev_lists_every_failed_test_again_after_tox_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A long run's failures scroll far above its last screen: ./dev repeats them at the end,
    with the tox command they came from and pytest's one-line reason, and keeps tox's status."""
    dev = _load_dev_script()
    fake_tox_output = "\n".join([
        "py39: commands[0]> pytest -v -n 2",
        "[gw1] [ 42%] PASSED tests/a.py::fine",
        "[gw1] [ 43%] \x1b[31mFAILED\x1b[0m tests/a.py::broken ",
        "FAILED tests/a.py::broken - AssertionError: boom",
        "py39: commands[1]> env SYNCDP_TAB_MODE=sockets pytest",
        "ERROR tests/b.py::setup_fails - RuntimeError: no browser",
        "  py39: FAIL code 1",
    ])
    code = dev.run_and_recap(["sh", "-c", "printf '%s\\n' \"$OUT\"; exit 3"],
                             dict(os.environ, OUT=fake_tox_output))
    assert code == 3
    tail = capsys.readouterr().out.split("dev: tests that failed, errored or were rerun")[1]
    assert tail.splitlines()[1:] == [
        "  [py39: pytest -v -n 2] FAILED tests/a.py::broken - AssertionError: boom",
        "  [py39: env SYNCDP_TAB_MODE=sockets pytest] ERROR tests/b.py::setup_fails"
        " - RuntimeError: no browser",
        "dev: tox exited with 3",
    ]


FAKE_TOX = """#!/bin/sh
# A stand-in for tox: `fake-tox -e NAME` prints what tox and pytest would and exits like them.
name="$2"
echo "$name: commands[0]> pytest -v"
if [ "$name" = slow ]; then
    # Finishes only once "quick" has started: the two ran at the same time.
    i=0
    while [ ! -e "$MARKS/quick" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
    [ -e "$MARKS/quick" ] || { echo "FAILED tests/slow.py::t - quick never ran beside me"; exit 1; }
    echo "[gw0] [100%] PASSED tests/slow.py::t"
    exit 0
fi
touch "$MARKS/$name"
echo "[gw0] [100%] FAILED tests/$name.py::t "
echo "FAILED tests/$name.py::t - AssertionError: boom"
echo "  $name: FAIL code 1"
exit 1
"""


def test_dev_runs_the_matrix_two_environments_at_a_time_and_sums_them_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no arguments ./dev runs tox's environments in two lanes, one pytest worker each,
    each output line prefixed with its environment; the end lists each environment's outcome
    and every failed test, and the exit status says whether all passed."""
    dev = _load_dev_script()
    tox = tmp_path / "fake-tox"
    tox.write_text(FAKE_TOX)
    tox.chmod(0o755)
    env = dict(os.environ, MARKS=str(tmp_path))
    env.pop("SYNCDP_TEST_WORKERS", None)
    code = dev.run_matrix(str(tox), ["slow", "quick"], 2, env)
    out = capsys.readouterr().out
    assert code == 1
    assert "slow  | [gw0] [100%] PASSED tests/slow.py::t" in out.splitlines()
    assert "quick | FAILED tests/quick.py::t - AssertionError: boom" in out.splitlines()
    summary = out.split("dev: summary (2 lanes")[1].splitlines()
    assert re.match(r"^  slow  OK in \d+ s$", summary[1]), summary
    assert re.match(r"^  quick FAILED \(exit 1\) in \d+ s$", summary[2]), summary
    assert "  [quick: pytest -v] FAILED tests/quick.py::t - AssertionError: boom" in summary
    assert summary[-1] == "dev: failed: quick"


def test_dev_matrix_lanes_get_one_pytest_worker_each(tmp_path: Path) -> None:
    """Two environments at a time on two cores: each lane's tox gets SYNCDP_TEST_WORKERS=1
    (tox.ini's -n), unless the caller chose a number."""
    dev = _load_dev_script()
    tox = tmp_path / "fake-tox"
    tox.write_text('#!/bin/sh\necho "$SYNCDP_TEST_WORKERS" > "$MARKS/$2"\n')
    tox.chmod(0o755)
    env = dict(os.environ, MARKS=str(tmp_path))
    env.pop("SYNCDP_TEST_WORKERS", None)
    assert dev.run_matrix(str(tox), ["a"], 2, env) == 0
    assert (tmp_path / "a").read_text().strip() == "1"
    assert dev.run_matrix(str(tox), ["b"], 2, dict(env, SYNCDP_TEST_WORKERS="3")) == 0
    assert (tmp_path / "b").read_text().strip() == "3"


def test_ctrl_c_during_the_matrix_ends_the_running_environments_and_starts_no_other(
    tmp_path: Path,
) -> None:
    """Ctrl-C reaches ./dev's main thread only: it must end both lanes' tox processes (not
    leave them running) and start none of the environments still waiting."""
    tox = tmp_path / "fake-tox"
    tox.write_text('#!/bin/sh\necho $$ > "$MARKS/$2.pid"\necho started\nexec sleep 120\n')
    tox.chmod(0o755)
    script = (
        "import importlib.machinery, importlib.util, sys\n"
        "loader = importlib.machinery.SourceFileLoader('dev', %r)\n"
        "spec = importlib.util.spec_from_loader('dev', loader)\n"
        "dev = importlib.util.module_from_spec(spec); loader.exec_module(dev)\n"
        "sys.exit(dev.run_matrix(%r, ['a', 'b', 'c'], 2, dict(__import__('os').environ)))\n"
        % (str(REPO_ROOT / "dev"), str(tox))
    )
    process = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, MARKS=str(tmp_path)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ((tmp_path / "a.pid").exists() and (tmp_path / "b.pid").exists()):
            assert time.monotonic() < deadline, "the two lanes never started"
            time.sleep(0.05)
        pids = [int((tmp_path / n).read_text()) for n in ("a.pid", "b.pid")]
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, out
    assert "dev: interrupted" in out
    assert not (tmp_path / "c.pid").exists(), "an environment was started after Ctrl-C"
    for pid in pids:
        # By its environment, not the bare pid: pids wrap fast here (pid_max 32768 and every
        # Chromium thread takes one), another process may hold the number already.
        try:
            environ = Path("/proc/%d/environ" % pid).read_bytes().split(b"\0")
        except OSError:
            continue
        assert ("MARKS=%s" % tmp_path).encode() not in environ, (
            "tox process %d is still running after Ctrl-C" % pid)


def test_dev_refuses_a_lane_count_that_is_not_a_whole_number() -> None:
    dev = _load_dev_script()
    with pytest.raises(SystemExit):
        dev.lane_count({"SYNCDP_LANES": "two"})
    assert dev.lane_count({}) == 2
    assert dev.lane_count({"SYNCDP_LANES": "1"}) == 1


def test_dev_matrix_is_tox_ini_envlist_in_its_order() -> None:
    dev = _load_dev_script()
    assert dev.default_envs()[:5] == ["py39", "py313", "py310", "py311", "py312"]
    assert {"lint", "workers", "remote", "bootstrap"} <= set(dev.default_envs())


def test_dev_installs_python3_venv_with_apt_get_when_venv_cannot_bootstrap_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian/Ubuntu without python3-venv: ``python3 -m venv`` fails on ensurepip; ./dev
    installs the package, then tries again. (A fake apt-get records what it was asked.)"""
    dev = _load_dev_script()
    calls = tmp_path / "apt-get.calls"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    apt_get = fake_bin / "apt-get"
    apt_get.write_text('#!/bin/sh\necho "$@" >> %s\n' % calls)
    apt_get.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (fake_bin, os.pathsep, os.defpath))
    attempts: List[int] = []

    def try_create_venv() -> bool:  # fails until python3-venv is "installed"
        attempts.append(1)
        return calls.exists()

    monkeypatch.setattr(dev, "venv_works", lambda: False)
    monkeypatch.setattr(dev, "try_create_venv", try_create_venv)
    dev.ensure_venv()
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq python3-venv"]
    assert len(attempts) == 2


# -- ./dev from a bare PATH ------------------------------------------------------------------

bootstrap = pytest.mark.bootstrap


def _bare_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if PASSED_THROUGH.match(k)}
    env["PATH"] = os.defpath
    env.update(extra)
    return env


def _dev(tree: Path, *args: str, env: Optional[Dict[str, str]] = None,
         timeout: float = 900) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [str(tree / "dev"), *args], cwd=str(tree), env=_bare_env() if env is None else env,
        capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of this working tree without any virtualenv, like a fresh clone."""
    if not shutil.which("python3", path=os.defpath):
        pytest.skip("no python3 on the system PATH %s" % os.defpath)
    dest = tmp_path_factory.mktemp("clone") / "syncdp"
    shutil.copytree(str(REPO_ROOT), str(dest), ignore=COPY_IGNORE, symlinks=True)
    yield dest


@pytest.fixture(scope="module")
def first_run(tree: Path) -> "subprocess.CompletedProcess[str]":
    return _dev(tree, "--version")


def _installed_minor_versions() -> List[str]:
    """Supported CPython versions on this machine: pyenv's, and python3.X on the system PATH."""
    found = set()
    roots = [os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")]
    for root in roots:
        versions = os.path.join(root, "versions")
        for name in os.listdir(versions) if os.path.isdir(versions) else []:
            minor = ".".join(name.split(".")[:2])
            if minor in SUPPORTED and os.path.exists(os.path.join(versions, name, "bin", "python3")):
                found.add(minor)
    for minor in SUPPORTED:
        if shutil.which("python" + minor, path=os.defpath):
            found.add(minor)
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


@bootstrap
def test_dev_installs_tox_into_a_project_local_virtualenv(
    tree: Path, first_run: "subprocess.CompletedProcess[str]"
) -> None:
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert re.search(r"^\d+\.\d+", first_run.stdout), first_run.stdout  # tox's version
    assert "creating the project-local virtualenv %s" % (tree / ".venv-tox") in first_run.stderr
    config = (tree / ".venv-tox" / "pyvenv.cfg").read_text()
    system_python = os.path.realpath(shutil.which("python3", path=os.defpath) or "")
    home = re.search(r"^home = (.*)$", config, re.M)
    assert home is not None, config
    assert os.path.realpath(home.group(1).strip()) == os.path.dirname(system_python), config
    assert (tree / ".venv-tox" / "bin" / "tox").exists()


@bootstrap
def test_the_virtualenv_is_git_ignored() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".venv-tox/bin/tox"],
                             cwd=str(REPO_ROOT), check=False)
    assert ignored.returncode == 0


@bootstrap
def test_dev_reuses_the_virtualenv_on_the_next_run(
    tree: Path, first_run: "subprocess.CompletedProcess[str]"
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    again = _dev(tree, "--version", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "creating" not in again.stderr and "installing" not in again.stderr, again.stderr


@bootstrap
def test_dev_finds_every_installed_cpython(
    tree: Path, first_run: "subprocess.CompletedProcess[str]"
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    envs = ",".join("py" + v.replace(".", "") for v in SUPPORTED)
    result = _dev(tree, "config", "-e", envs, "-k", "py_dot_ver", timeout=300)
    assert result.returncode == 0, result.stderr
    found = re.findall(r"^py_dot_ver = (\d+\.\d+)$", result.stdout, re.M)
    installed = _installed_minor_versions()
    assert installed, "no supported CPython on this machine?"
    assert sorted(found, key=lambda v: tuple(map(int, v.split(".")))) == installed, result.stdout


@bootstrap
def test_dev_finds_the_system_python_on_a_machine_without_pyenv(
    tree: Path, first_run: "subprocess.CompletedProcess[str]", tmp_path: Path
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    env = _bare_env(HOME=str(tmp_path))  # no ~/.pyenv there
    env.pop("PYENV_ROOT", None)
    envs = ",".join("py" + v.replace(".", "") for v in SUPPORTED)
    result = _dev(tree, "config", "-e", envs, "-k", "py_dot_ver", env=env, timeout=300)
    # (tox config exits non-zero when a value could not be had: here, the missing Pythons)
    found = re.findall(r"^py_dot_ver = (\d+\.\d+)$", result.stdout, re.M)
    on_path = [v for v in SUPPORTED if shutil.which("python" + v, path=os.defpath)]
    assert found == on_path, result.stdout
    assert "PathError" not in result.stdout


@bootstrap
def test_in_ci_a_missing_supported_python_fails_instead_of_being_skipped(
    tree: Path, first_run: "subprocess.CompletedProcess[str]", tmp_path: Path
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    missing = [v for v in SUPPORTED if not shutil.which("python" + v, path=os.defpath)]
    if not missing:
        pytest.skip("every supported Python is on the system PATH")
    env_name = "py" + missing[0].replace(".", "")
    no_pyenv = str(tmp_path / "no-pyenv")  # hides pyenv's interpreters
    locally = _dev(tree, "run", "-e", env_name, "--notest", env=_bare_env(PYENV_ROOT=no_pyenv))
    assert "%s: SKIP" % env_name in locally.stdout, locally.stdout + locally.stderr
    assert "FAIL" not in locally.stdout
    in_ci = _dev(tree, "run", "-e", env_name, "--notest",
                 env=_bare_env(PYENV_ROOT=no_pyenv, CI="true"))
    assert in_ci.returncode != 0, in_ci.stdout
    assert "%s: FAIL" % env_name in in_ci.stdout, in_ci.stdout + in_ci.stderr
    assert "could not find python interpreter" in in_ci.stdout


@bootstrap
def test_the_demo_command_runs_from_a_bare_path(
    tree: Path, first_run: "subprocess.CompletedProcess[str]"
) -> None:
    assert first_run.returncode == 0, first_run.stderr
    result = _dev(tree, "-e", "demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "clicked the button" in result.stdout
    assert "nothing left running" in result.stdout
