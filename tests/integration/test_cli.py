"""``python -m syncdp`` in a subprocess against real headless Chromium and local pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from pages import PAGES, REPO_ROOT, TALL_HEIGHT, needs_chromium, png_size
from syncdp import __version__
from syncdp.localserver import LocalServer

pytestmark = [pytest.mark.integration, needs_chromium, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(PAGES) as srv:
        yield srv


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
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
