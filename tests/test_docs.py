"""The documentation cannot rot: every ```python block of README.md and docs/*.md runs.

How the blocks run
    Each page runs in a fresh interpreter: its ```python blocks in order, in one namespace
    (a page may set things up in one block and use them in the next, as a reader following
    along would), each compiled with the page's own file name and line numbers so that a
    traceback points into the Markdown file. A block may use top-level ``await`` (the
    notebook page does): it then runs on an asyncio event loop, which is exactly the
    situation of a notebook cell. There is no hidden prelude: the blocks launch their own
    browser (``syncdp.Chrome``) and serve their own pages
    (``syncdp.localserver.LocalServer``), so what the reader sees is all there is and
    everything runs offline. The interpreter starts in a temporary working directory (files
    the examples save land there) with a private ``TMPDIR`` (so the browsers it launches
    are found, and only those), and with warnings turned into errors.

What fails
    A block that raises; a page that leaves a browser process or a temporary profile
    behind, or logs a traceback (a failing callback); more than :data:`MAX_SKIPPED` blocks
    marked ```python skip (for illustrations that cannot run, e.g. a remote browser's
    address); a relative link to a file that does not exist; a public name of ``syncdp``
    that no page mentions; a README whose set-up commands differ from what ``.ci/run``
    runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest

import syncdp

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGES = [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").glob("*.md"))
# Pages of figures only (benchmark results) hold no code; every other page must.
DATA_PAGES = {"benchmarks.md", "tabs_benchmark.md"}
MAX_SKIPPED = 3
PAGE_TIMEOUT = 180  # seconds for all the blocks of one page
CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")

# Each page runs as a program of its own (see setup.cfg's markers and tox.ini).
pytestmark = pytest.mark.programs

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<info>[^`]*)$")


class Block(NamedTuple):
    page: Path
    line: int  # line number of the first code line in the page (1-based)
    info: str  # the fence's info string, e.g. "python" or "python skip"
    code: str


def extract_blocks(page: Path) -> List[Block]:
    """Every fenced code block of ``page`` (``` fences, possibly indented in a list)."""
    blocks = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match.group("indent"), match.group("fence"), match.group("info")
        body: List[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            text = lines[j]
            body.append(text[len(indent):] if text.startswith(indent) else text.lstrip())
            j += 1
        assert j < len(lines), "%s:%d: unclosed code fence" % (page.name, i + 1)
        blocks.append(Block(page, i + 2, info.strip(), "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def python_blocks(page: Path) -> List[Block]:
    return [b for b in extract_blocks(page) if b.info.split()[:1] == ["python"]]


def runnable(page: Path) -> List[Block]:
    return [b for b in python_blocks(page) if b.info == "python"]


# Runs in the page's interpreter: reads the blocks as JSON on stdin and executes them.
RUNNER = r"""
import ast, asyncio, inspect, json, sys, traceback
blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
loop = None
for block in blocks:
    print("--- running %s:%d" % (block["page"], block["line"]), flush=True)
    source = "\n" * (block["line"] - 1) + block["code"]
    try:
        code = compile(source, block["path"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if code.co_flags & inspect.CO_COROUTINE:
            if loop is None:
                loop = asyncio.new_event_loop()
            loop.run_until_complete(eval(code, namespace))
        else:
            exec(code, namespace)
    except BaseException:
        traceback.print_exc()
        print("FAILED block at %s:%d" % (block["page"], block["line"]), file=sys.stderr)
        sys.exit(1)
if loop is not None:
    loop.close()
print("--- all %d blocks ran" % len(blocks), flush=True)
"""


def _browser_processes(marker: str) -> List[str]:
    """Command lines of live processes that mention ``marker`` (the page's TMPDIR)."""
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


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO_ROOT))


# -- running every page ---------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.timeout(PAGE_TIMEOUT + 60)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the leak check reads /proc")
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs " + CHROMIUM)
@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_code_runs(page: Path) -> None:
    blocks = runnable(page)
    if page.name in DATA_PAGES:
        assert not blocks, "%s is a data page but has code: run it" % page.name
        return
    assert blocks, "%s has no runnable ```python block" % page.name
    # A short private TMPDIR: Chromium's singleton socket path must stay under ~107 bytes.
    private_tmp = tempfile.mkdtemp(prefix="sddoc-", dir="/tmp" if os.path.isdir("/tmp") else None)
    workdir = tempfile.mkdtemp(prefix="sddoc-work-")
    payload = json.dumps([
        {"page": _page_id(b.page), "path": str(b.page), "line": b.line, "code": b.code}
        for b in blocks
    ])
    env = dict(os.environ, TMPDIR=private_tmp, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    try:
        try:
            proc = subprocess.run(
                [sys.executable, "-W", "error", "-c", RUNNER],
                input=payload, cwd=workdir, env=env, capture_output=True, text=True,
                timeout=PAGE_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail("%s did not finish within %ds\n%s\n%s"
                        % (page.name, PAGE_TIMEOUT, exc.stdout, exc.stderr), pytrace=False)
        deadline = time.monotonic() + 10
        left = _browser_processes(private_tmp)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = _browser_processes(private_tmp)
        leftovers = os.listdir(private_tmp)
        report = "--- stdout ---\n%s\n--- stderr ---\n%s" % (proc.stdout[-6000:], proc.stderr[-8000:])
        assert proc.returncode == 0, "a code block of %s failed\n%s" % (page.name, report)
        assert "--- all %d blocks ran" % len(blocks) in proc.stdout, report
        assert "Traceback" not in proc.stderr, "%s logged a traceback\n%s" % (page.name, report)
        assert left == [], "%s left browser processes behind: %s" % (page.name, left)
        assert leftovers == [], "%s left temporary files behind: %s" % (page.name, leftovers)
    finally:
        for line in _browser_processes(private_tmp):  # only this page's own leftovers
            try:
                os.kill(int(line.split(":", 1)[0]), 9)
            except OSError:
                pass
        shutil.rmtree(private_tmp, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


# -- static checks --------------------------------------------------------------------------


def test_pages_exist() -> None:
    names = sorted(p.name for p in PAGES)
    for expected in ("README.md", "architecture.md", "events-and-threading.md",
                     "notebooks.md", "recipes.md"):
        assert expected in names


def test_few_blocks_are_skipped() -> None:
    skipped: Dict[str, int] = {}
    for page in PAGES:
        for block in python_blocks(page):
            assert block.info in ("python", "python skip"), (
                "%s:%d: unknown info string %r (use 'python' or 'python skip')"
                % (page.name, block.line, block.info)
            )
            if block.info == "python skip":
                skipped["%s:%d" % (page.name, block.line)] = 1
    assert len(skipped) <= MAX_SKIPPED, "too many blocks that never run: %s" % sorted(skipped)


def test_blocks_compile() -> None:
    """Even the skipped blocks are valid Python (checked without running them)."""
    import ast

    for page in PAGES:
        for block in python_blocks(page):
            source = "\n" * (block.line - 1) + block.code
            compile(source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_relative_links_point_to_files() -> None:
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor on the same page
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append("%s -> %s" % (page.name, target))
    assert broken == []


def test_every_public_name_is_documented() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    missing = [name for name in syncdp.__all__
               if name not in ("__version__", "exceptions") and name not in text]
    assert missing == [], "public names no page mentions: %s" % missing


def test_readme_set_up_section_runs_what_ci_runs() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Set-up: two commands\n(.*?)^## ", readme, re.M | re.S)
    assert match, "README.md lost its 'Set-up: two commands' section"
    section = match.group(1)
    commands = [line for line in section.splitlines() if line.startswith("./dev")]
    assert commands == ["./dev -e demo", "./dev"]
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    last_command = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert last_command.strip() in (commands[1], "exec " + commands[1])
    assert "`.ci/run` runs exactly `./dev`." in section
