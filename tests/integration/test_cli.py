"""``python -m syncdp`` in a subprocess against real headless Chromium and local pages."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from pages import PAGES, REPO_ROOT, TALL_HEIGHT, needs_chromium, png_size
from syncdp import __version__
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, pytest.mark.programs, needs_chromium, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


def run_cli(
    *args: str, cwd: Path, timeout: float = 60, env: Optional[Dict[str, str]] = None
) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO_ROOT))
    for var in ("SYNCDP_BROWSER", "CHROME_PATH"):
        if env.get(var) and env[var] == os.environ.get(var):
            del env[var]  # the runner's own choice would change what these tests check
    return subprocess.run(
        [sys.executable, "-m", "syncdp", *args],
        cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_screenshot(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    result = run_cli("screenshot", server.url("/"), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    width, height = png_size(out.read_bytes())
    assert width == 1280
    assert 0 < height <= 720
    assert str(out) in result.stdout


def test_screenshot_full_page(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "full.png"
    result = run_cli("screenshot", server.url("/tall"), "-o", str(out), "--full-page", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert png_size(out.read_bytes())[1] == TALL_HEIGHT


def test_pdf(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "page.pdf"
    result = run_cli("pdf", server.url("/"), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF-")


def test_eval_prints_json(server: LocalServer, tmp_path: Path) -> None:
    expression = "({title: document.title, n: 1 + 2, items: [true, null]})"
    result = run_cli("eval", server.url("/"), expression, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"title": "syncdp index", "n": 3, "items": [True, None]}


def test_eval_compact_return_body(server: LocalServer, tmp_path: Path) -> None:
    result = run_cli("eval", server.url("/"), "return document.title", "--compact", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"syncdp index"'


def test_version(tmp_path: Path) -> None:
    result = run_cli("version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _lines(result.stdout)
    assert lines[0] == "syncdp %s" % __version__
    assert "Chrome" in lines[1] and "protocol 1.3" in lines[1]


def test_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    result = run_cli("demo", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "syncdp demo page" in result.stdout  # the page's title
    assert "clicked" in result.stdout
    assert png_size(out.read_bytes())[0] == 1280


def _assert_one_line_error(result: "subprocess.CompletedProcess[str]", *needles: str) -> None:
    assert result.returncode != 0
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("syncdp: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_unreachable_url_is_a_one_line_error(tmp_path: Path, dead_port: int) -> None:
    out = tmp_path / "never.png"
    url = "http://127.0.0.1:%d/" % dead_port
    result = run_cli("screenshot", url, "-o", str(out), cwd=tmp_path)
    _assert_one_line_error(result, "ERR_CONNECTION_REFUSED")
    assert not out.exists()


def test_missing_browser_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("version", "--browser", "/nonexistent", cwd=tmp_path, timeout=30)
    _assert_one_line_error(result, "/nonexistent")


def test_screenshot_format_follows_the_file_extension(server: LocalServer, tmp_path: Path) -> None:
    for name, magic in (("shot.jpg", b"\xff\xd8\xff"), ("shot.WEBP", b"RIFF")):
        out = tmp_path / name
        result = run_cli("screenshot", server.url("/"), "-o", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        data = out.read_bytes()
        assert data.startswith(magic), (name, data[:12])
        if name.endswith("WEBP"):
            assert data[8:12] == b"WEBP"


def test_screenshot_with_an_unknown_extension_is_refused_before_launching(tmp_path: Path) -> None:
    out = tmp_path / "shot.gif"
    result = run_cli("screenshot", "http://127.0.0.1:1/", "-o", str(out), cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "cannot tell the image format" in result.stderr and ".jpg" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command, example", [("screenshot", "page.png"), ("pdf", "page.pdf")])
def test_output_that_is_a_directory_is_refused_before_launching(
    tmp_path: Path, command: str, example: str
) -> None:
    result = run_cli(command, "http://127.0.0.1:1/", "-o", str(tmp_path), cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "cannot write %r: it is a directory" % str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr
    if command == "screenshot":
        assert repr(str(tmp_path / example)) in result.stderr


def test_eval_timeout_covers_the_expression(server: LocalServer, tmp_path: Path) -> None:
    never = "new Promise(() => {})"
    result = run_cli("eval", server.url("/"), never, "--timeout", "2", cwd=tmp_path)
    _assert_one_line_error(result, "Runtime.evaluate", "within 2s")


@pytest.mark.parametrize("value", ["-3", "0", "nan", "soon"])
def test_bad_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    result = run_cli("eval", "http://127.0.0.1:1/", "1", "--timeout", value, cwd=tmp_path)
    assert result.returncode == 2
    assert "--timeout must be a positive number of seconds, got %r" % value in result.stderr
    assert "Traceback" not in result.stderr


def test_help_says_what_timeout_covers(tmp_path: Path) -> None:
    result = run_cli("eval", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "evaluating EXPRESSION" in " ".join(result.stdout.split())
    result = run_cli("screenshot", "--help", cwd=tmp_path)
    assert ".jpg" in result.stdout and "--timeout SECONDS" in result.stdout


# -- the first hour's rough edges ------------------------------------------------------------


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield "http://127.0.0.1:%d/never" % sock.getsockname()[1]
    finally:
        sock.close()


def _fake_browser(tmp_path: Path, body: str) -> Path:
    """An executable shell script standing in for a browser."""
    path = tmp_path / "fake-browser"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_stubs_alone_launches_the_local_browser_for_its_protocol(tmp_path: Path) -> None:
    result = run_cli("stubs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "typings" / "cdp_types" / "__init__.py").exists()
    assert (tmp_path / "typings" / "cdp_types" / "page.py").exists()
    assert "wrote" in result.stdout


def test_stubs_help_is_plain_text_with_examples(tmp_path: Path) -> None:
    result = run_cli("stubs", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for rst in ("``", ":func:", ":mod:", "::"):
        assert rst not in result.stdout, rst
    assert "syncdp stubs --port 9222" in result.stdout
    assert "With no source option, --launch is used" in " ".join(result.stdout.split())


@pytest.mark.parametrize("command", ["screenshot", "pdf"])
def test_output_in_a_missing_directory_is_refused_before_launching(
    tmp_path: Path, command: str
) -> None:
    marker = tmp_path / "launched"
    browser = _fake_browser(tmp_path, "touch %s; exit 1" % marker)
    out = tmp_path / "no-such-dir" / ("page.png" if command == "screenshot" else "page.pdf")
    result = run_cli(command, "http://127.0.0.1:1/", "-o", str(out), "--browser", str(browser),
                     cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "directory %r does not exist" % str(out.parent) in result.stderr
    assert not marker.exists()


def test_missing_browser_option_error_names_the_option(tmp_path: Path) -> None:
    result = run_cli("version", "--browser", "/nonexistent/chrome", cwd=tmp_path, timeout=30)
    _assert_one_line_error(result, "--browser /nonexistent/chrome: no such executable")
    assert "binary_location" not in result.stderr


def test_browser_that_dies_shows_its_stderr_without_a_dangling_label(tmp_path: Path) -> None:
    browser = _fake_browser(tmp_path, "echo 'starting' >&2; echo 'cannot open display' >&2; exit 3")
    result = run_cli("version", "--browser", str(browser), cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    lines = _lines(result.stderr)
    assert lines[0].startswith("syncdp: error: browser %s exited" % browser), lines
    assert lines[0].endswith("(exit code 3)"), lines
    assert lines[-1].strip() == "cannot open display"
    assert not any(line.rstrip().endswith("stderr:") for line in lines if "last lines" not in line)


@pytest.mark.parametrize("var", ["SYNCDP_BROWSER", "CHROME_PATH"])
def test_browser_variable_pointing_nowhere_is_an_error_naming_it(tmp_path: Path, var: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SYNCDP_BROWSER", "CHROME_PATH")}
    env[var] = "/nonexistent/chromium"
    result = run_cli("version", cwd=tmp_path, timeout=30, env=env)
    _assert_one_line_error(result, "%s=/nonexistent/chromium is not an executable" % var)


def test_browser_variable_is_used_when_it_points_at_a_browser(tmp_path: Path) -> None:
    marker = tmp_path / "launched"
    browser = _fake_browser(tmp_path, "touch %s; exit 1" % marker)
    env = dict(os.environ, SYNCDP_BROWSER=str(browser))
    env.pop("CHROME_PATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "syncdp", "version"], cwd=str(tmp_path), capture_output=True,
        text=True, timeout=30, check=False, env=dict(env, PYTHONPATH=str(REPO_ROOT)),
    )
    assert result.returncode == 1
    assert marker.exists()
    assert "browser %s exited" % browser in result.stderr


@pytest.mark.parametrize("url, suggestion", [
    ("127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("localhost:8000/page", "http://localhost:8000/page"),
    ("example.org/page", "https://example.org/page"),
])
def test_url_without_a_scheme_suggests_the_likely_one(
    tmp_path: Path, url: str, suggestion: str
) -> None:
    result = run_cli("screenshot", url, "-o", str(tmp_path / "x.png"), cwd=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "URL needs a scheme: did you mean %s ?" % suggestion in result.stderr


def test_slow_page_says_loading_timed_out(tmp_path: Path, black_hole: str) -> None:
    out = tmp_path / "slow.png"
    result = run_cli("screenshot", black_hole, "-o", str(out), "--timeout", "2", cwd=tmp_path)
    _assert_one_line_error(result, "loading %s timed out after 2s" % black_hole)
    assert "Page.navigate" not in result.stderr
    assert not out.exists()


def _run_on_a_terminal(args: List[str], cwd: Path, timeout: float) -> "tuple[int, str]":
    """Run the CLI with stderr on a pseudo-terminal; returns (status, what the terminal got)."""
    master, slave = pty.openpty()
    chunks: List[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, name="test-pty-reader", daemon=True)
    reader.start()
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        process = subprocess.run(
            [sys.executable, "-m", "syncdp", *args], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=slave, timeout=timeout, check=False,
        )
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_a_wait_over_a_second_shows_progress_on_a_terminal(tmp_path: Path, black_hole: str) -> None:
    status, terminal = _run_on_a_terminal(
        ["eval", black_hole, "1", "--timeout", "3"], cwd=tmp_path, timeout=60
    )
    assert status == 1
    assert "loading %s ... " % black_hole in terminal, terminal
    assert "\x1b[K" in terminal  # the progress line is erased before the error
    assert terminal.rstrip().endswith("loading %s timed out after 3s (--timeout SECONDS waits "
                                      "longer)" % black_hole), terminal


def test_no_progress_line_when_stderr_is_not_a_terminal(tmp_path: Path, black_hole: str) -> None:
    result = run_cli("eval", black_hole, "1", "--timeout", "2", cwd=tmp_path)
    assert "\r" not in result.stderr and " ... " not in result.stderr


def test_http_error_page_is_saved_with_a_warning(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "missing.png"
    result = run_cli("screenshot", server.url("/no-such-page"), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "syncdp: warning: %s answered HTTP 404" % server.url("/no-such-page") in result.stderr
    assert out.exists()


def test_fail_on_http_error_exits_non_zero_and_saves_nothing(
    server: LocalServer, tmp_path: Path
) -> None:
    out = tmp_path / "missing.pdf"
    url = server.url("/no-such-page")
    result = run_cli("pdf", url, "-o", str(out), "--fail-on-http-error", cwd=tmp_path)
    _assert_one_line_error(result, "%s answered HTTP 404 (--fail-on-http-error)" % url)
    assert not out.exists()
    ok = run_cli("eval", server.url("/"), "document.title", "--fail-on-http-error", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "warning" not in ok.stderr


def test_browser_arg_takes_a_flag_as_its_value(server: LocalServer, tmp_path: Path) -> None:
    result = run_cli("eval", server.url("/"), "navigator.userAgent", "--compact",
                     "--browser-arg", "--user-agent=syncdp-cli-agent", "--browser-arg", "--disable-gpu",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "syncdp-cli-agent"


ARGUMENT_SECTIONS = ("positional arguments", "options", "optional arguments", "browser options")


@pytest.mark.parametrize("command", ["screenshot", "pdf", "eval", "version", "stubs", "demo"])
def test_every_command_has_a_description_and_every_argument_help(
    tmp_path: Path, command: str
) -> None:
    result = run_cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = result.stdout
    usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n", 1)[0]
    assert description and not description.lstrip().startswith(("positional", "options")), text
    lines = text.splitlines()
    in_arguments = False
    for i, line in enumerate(lines):
        if re.match(r"^\S.*:$", line):  # a section title: "options:", "examples:"...
            in_arguments = line[:-1] in ARGUMENT_SECTIONS
        elif in_arguments and re.match(r"^  \S", line):
            inline = re.search(r"\S\s{2,}\S", line.strip()) is not None
            below = i + 1 < len(lines) and re.match(r"^\s{6,}\S", lines[i + 1]) is not None
            assert inline or below, "no help text for %r in:\n%s" % (line, text)
    if command in ("screenshot", "pdf", "eval"):
        assert "URL" in text and "with its scheme" in text
    if command == "pdf":
        assert "landscape pages" in text
