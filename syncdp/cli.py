"""The ``syncdp`` command line: screenshot, pdf, eval, version, stubs and demo.

Errors are one clear line on stderr (a failed browser launch adds the browser's last stderr
lines) and a non-zero exit status: 2 for a usage error found before anything is launched, 1
for a failure after, 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Sequence, TextIO, Union
from urllib.parse import urlsplit

from syncdp import __version__
from syncdp._checks import with_likely_scheme
from syncdp.browser import Chrome
from syncdp.exceptions import (
    BrowserLaunchError,
    BrowserNotFoundError,
    CommandTimeoutError,
    EventTimeoutError,
    SyncdpError,
)
from syncdp.localserver import DEMO_PAGE, LocalServer
from syncdp.tab import Tab

__all__ = ["main", "CliError"]

#: Image formats by file extension (``Page.captureScreenshot``'s ``format``).
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
DEFAULT_TIMEOUT = 30.0
#: Environment variables the launcher reads for the browser, in its order.
BROWSER_ENV_VARS = ("SYNCDP_BROWSER", "CHROME_PATH")
#: Where a wait starts showing a progress line on a terminal.
PROGRESS_AFTER = 1.0
_OPAQUE_SCHEMES = ("about", "data", "file", "blob", "javascript", "view-source", "chrome")
_STUBS_SOURCES = ("--port", "--url", "--protocol-file", "--launch", "--pinned")
_BROWSER_HELP = (
    "browser executable, a path or a name on PATH (default: $SYNCDP_BROWSER, then "
    "$CHROME_PATH, then chromium, google-chrome... on PATH and the usual install places)"
)


class CliError(SyncdpError):
    """A failure the command line reports as it is, in one line."""


# -- argument types ----------------------------------------------------------------------


def _writable_file(path: str) -> str:
    """argparse type of an output file: its directory must exist (checked before launching)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(
            "cannot write %r: directory %r does not exist" % (path, directory)
        )
    if not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(
            "cannot write %r: directory %r is not writable" % (path, directory)
        )
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError("cannot write %r: it is a directory" % (path,))
    return path


def _image_path(path: str) -> str:
    """argparse type of a screenshot's ``-o``: the extension must name an image format."""
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(
            "cannot write %r: it is a directory; name the image file, e.g. %r"
            % (path, os.path.join(path, "page.png"))
        )
    if os.path.splitext(path)[1].lower() not in IMAGE_FORMATS:
        raise argparse.ArgumentTypeError(
            "cannot tell the image format from %r: name the file .png, .jpg, .jpeg or .webp"
            % (path,)
        )
    return _writable_file(path)


def _image_format(path: str) -> str:
    return IMAGE_FORMATS[os.path.splitext(path)[1].lower()]


def _url(value: str) -> str:
    """argparse type of URL: absolute, with a scheme (a suggestion names the likely one)."""
    parts = urlsplit(value)
    if parts.scheme and (parts.netloc or parts.scheme in _OPAQUE_SCHEMES):
        return value
    # "localhost:8000/x" parses as scheme "localhost": a host without a scheme, like "a.org/x".
    raise argparse.ArgumentTypeError(
        "URL needs a scheme: did you mean %s ?" % with_likely_scheme(value)
    )


class _Seconds(argparse.Action):
    """``--timeout``: a positive, finite number of seconds; a usage error otherwise."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Union[str, Sequence[Any], None],
        option_string: Optional[str] = None,
    ) -> None:
        try:
            seconds = float(str(values))
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            parser.error(
                "%s must be a positive number of seconds, got %r" % (option_string, values)
            )
        setattr(namespace, self.dest, seconds)


def _normalize_argv(argv: Sequence[str]) -> List[str]:
    """``--browser-arg --flag`` means ``--browser-arg=--flag``; ``stubs`` alone, ``--launch``.

    argparse would take a value starting with ``-`` for an option of its own; every browser
    flag starts with one, so the value after ``--browser-arg`` is always its value.
    """
    out: List[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] == "--browser-arg" and i + 1 < len(args):
            out.append("--browser-arg=%s" % args[i + 1])
            i += 2
            continue
        out.append(args[i])
        i += 1
    command = next((a for a in out if not a.startswith("-")), None)
    if command == "stubs" and not any(
        a in ("-h", "--help") or a.split("=", 1)[0] in _STUBS_SOURCES for a in out
    ):
        out.append("--launch")
    return out


# -- progress on a terminal --------------------------------------------------------------


@contextlib.contextmanager
def _progress(label: str, stream: Optional[TextIO] = None) -> Iterator[None]:
    """Show ``label`` with a spinner and the seconds waited, once a wait passes 1 s.

    Only on a terminal (nothing is written to a pipe or a file); the line is erased after.
    """
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        if done.wait(PROGRESS_AFTER):
            return
        frame = 0
        while True:
            out.write("\r%s %s ... %.0fs " % ("|/-\\"[frame % 4], label, time.monotonic() - started))
            out.flush()
            frame += 1
            if done.wait(0.25):
                out.write("\r\x1b[K")
                out.flush()
                return

    thread = threading.Thread(target=spin, name="syncdp-cli-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# -- browser and page --------------------------------------------------------------------


def _check_browser_env(args: argparse.Namespace) -> None:
    """Refuse a browser variable that points nowhere (the launcher would skip it silently)."""
    if getattr(args, "browser", None):
        return
    for var in BROWSER_ENV_VARS:
        value = os.environ.get(var)
        if not value:
            continue
        if shutil.which(os.path.expanduser(value)) is None:
            raise CliError(
                "%s=%s is not an executable (a path, or a name on PATH); fix or unset it, "
                "or pass --browser PATH" % (var, value)
            )
        return  # the launcher uses the first one set


def _browser(args: argparse.Namespace) -> Chrome:
    _check_browser_env(args)
    extra: List[str] = list(args.browser_arg or [])
    pipe = True if args.pipe else None  # None: the SYNCDP_PIPE default
    return Chrome(binary_location=args.browser, arguments=extra, headless=not args.headful, pipe=pipe)


@contextlib.contextmanager
def _launched(args: argparse.Namespace) -> Iterator[Chrome]:
    browser = _browser(args)
    try:
        with _progress("starting the browser"):
            browser.start()
        yield browser
    finally:
        browser.stop()


def _http_status(tab: Tab, timeout: float) -> int:
    """The HTTP status of the page's main document (0 when not loaded over HTTP)."""
    status = tab.execute_script(
        "(performance.getEntriesByType('navigation')[0] || {}).responseStatus || 0",
        timeout=timeout,
    )
    return int(status) if isinstance(status, (int, float)) else 0


@contextlib.contextmanager
def _page(args: argparse.Namespace) -> Iterator[Tab]:
    """A launched browser's page, navigated to ``args.url``; the browser stops after.

    An HTTP error status (4xx, 5xx) is a warning, or with ``--fail-on-http-error`` an error
    before anything is saved.
    """
    with _launched(args) as browser:
        tab = browser.get_page()
        try:
            with _progress("loading %s" % args.url):
                tab.go_to(args.url, timeout=args.timeout)
        except (CommandTimeoutError, EventTimeoutError) as exc:
            raise CliError(
                "loading %s timed out after %gs (--timeout SECONDS waits longer)"
                % (args.url, args.timeout)
            ) from exc
        if urlsplit(args.url).scheme in ("http", "https"):
            status = _http_status(tab, args.timeout)
            if status >= 400:
                if args.fail_on_http_error:
                    raise CliError(
                        "%s answered HTTP %d (--fail-on-http-error): nothing saved"
                        % (args.url, status)
                    )
                print("syncdp: warning: %s answered HTTP %d" % (args.url, status), file=sys.stderr)
        yield tab


# -- commands ----------------------------------------------------------------------------


def _cmd_screenshot(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        data = tab.take_screenshot(
            args.output, format=_image_format(args.output), full_page=args.full_page
        )
    print("saved %s (%d bytes, %s)" % (args.output, len(data), data.format))
    return 0


def _cmd_pdf(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        with _progress("printing the PDF"):
            data = tab.print_to_pdf(args.output, landscape=args.landscape, timeout=args.timeout)
    print("saved %s (%d bytes)" % (args.output, len(data)))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        with _progress("evaluating"):
            value = tab.execute_script(args.expression, timeout=args.timeout)
    print(json.dumps(value, indent=None if args.compact else 2, ensure_ascii=False))
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    print("syncdp %s" % __version__)
    if not args.no_browser:
        with _launched(args) as browser:
            info = browser.send("Browser.getVersion", timeout=args.timeout)
        print("%s (protocol %s)" % (info.get("product"), info.get("protocolVersion")))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    output = args.output
    started = time.monotonic()
    with LocalServer({"/": DEMO_PAGE}) as server:
        print("serving the demo page at %s" % server.url("/"))
        with _launched(args) as browser:
            version = browser.send("Browser.getVersion", timeout=args.timeout)
            print("launched %s (pid %s)" % (version.get("product"), browser.process.pid))
            tab = browser.get_page()
            tab.go_to(server.url("/"), timeout=args.timeout)
            title = tab.execute_script("return document.title", timeout=args.timeout)
            description = tab.execute_script(
                "return document.querySelector('meta[name=\"description\"]')?.content || ''",
                timeout=args.timeout,
            )
            print("title: %s" % title)
            print("description: %s" % description)
            tab.query("#go").click()
            print("clicked the button; it now reads %r" % tab.query("#go").text)
            shot = tab.take_screenshot(output, format=_image_format(output))
            print(
                "screenshot: %s (%d bytes, %s)" % (os.path.abspath(output), len(shot), shot.format)
            )
    print("done in %.2fs; browser stopped, nothing left running" % (time.monotonic() - started))
    return 0


def _cmd_stubs(args: argparse.Namespace) -> int:
    from syncdp.devtools import stubgen

    if args.launch:
        _check_browser_env(args)
    with _progress("reading the protocol"):
        files = stubgen.run(args)
    print(
        "wrote %d files: package %s in %s"
        % (len(files), args.package, os.path.abspath(args.output))
    )
    return 0


# -- the parser --------------------------------------------------------------------------


def _add_browser_options(p: argparse.ArgumentParser, timeout_covers: str) -> None:
    """The options of every command that launches a browser."""
    group = p.add_argument_group("browser options")
    group.add_argument("--browser", metavar="PATH", help=_BROWSER_HELP)
    group.add_argument(
        "--browser-arg",
        action="append",
        metavar="FLAG",
        help="extra browser flag, e.g. --browser-arg --disable-gpu (repeatable)",
    )
    group.add_argument("--headful", action="store_true", help="show a window")
    group.add_argument(
        "--pipe", action="store_true", help="talk to the browser over a pipe (no TCP port opened)"
    )
    group.add_argument(
        "--timeout",
        action=_Seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds allowed %s (default: %%(default)g)" % timeout_covers,
    )


def _add_page_arguments(p: argparse.ArgumentParser) -> None:
    """URL and ``--fail-on-http-error``: every command that loads a page."""
    p.add_argument(
        "url",
        metavar="URL",
        type=_url,
        help="the page to load, with its scheme: http://127.0.0.1:8000/, https://..., file:///...",
    )
    p.add_argument(
        "--fail-on-http-error",
        action="store_true",
        help="exit with status 1 when the page answers HTTP 400 or more (default: a warning)",
    )


_STUBS_DESCRIPTION = """\
Write typed stubs (a small package of typing.Protocol and TypedDict classes) of a browser's
own CDP protocol, for mypy and editors. With no source option, --launch is used: the local
Chromium is started and asked for its protocol.

examples:
  syncdp stubs                                  the local browser's protocol, into typings/
  syncdp stubs --port 9222 -o typings           a running browser (or --url URL)
  syncdp stubs --protocol-file protocol.json

Then add "mypy_path = typings" to [mypy] in setup.cfg (pyright reads typings/ by default)."""


def _add_commands(parser: argparse.ArgumentParser) -> None:
    """The commands that load a page: screenshot, pdf and eval; then the others."""
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser(
        "screenshot",
        help="save a screenshot of URL",
        description="Load URL in headless Chromium and save a screenshot; the format follows "
        "the file name: .png, .jpg/.jpeg or .webp.",
    )
    _add_page_arguments(p)
    p.add_argument(
        "-o", "--output", required=True, type=_image_path, help="image file (.png, .jpg, .webp)"
    )
    p.add_argument("--full-page", action="store_true", help="the whole page, not the viewport")
    _add_browser_options(p, "for loading the page")
    p.set_defaults(func=_cmd_screenshot)

    p = sub.add_parser("pdf", help="save URL as PDF", description="Load URL and save it as PDF.")
    _add_page_arguments(p)
    p.add_argument("-o", "--output", required=True, type=_writable_file, help="PDF file")
    p.add_argument("--landscape", action="store_true", help="landscape pages (default: portrait)")
    _add_browser_options(p, "for loading the page, and again for rendering the PDF")
    p.set_defaults(func=_cmd_pdf)

    p = sub.add_parser(
        "eval",
        help="evaluate EXPRESSION in URL, print JSON",
        description="Load URL, evaluate a JavaScript expression (or a function body with "
        "'return') there, awaiting a promise, and print its value as JSON.",
    )
    _add_page_arguments(p)
    p.add_argument("expression", metavar="EXPRESSION", help="JavaScript, e.g. 'document.title'")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    _add_browser_options(p, "for loading the page, and again for evaluating EXPRESSION")
    p.set_defaults(func=_cmd_eval)
    _add_other_commands(sub)


def _add_other_commands(sub: Any) -> None:
    """``version``, ``stubs`` and ``demo`` (``sub``: the parser's subparsers action)."""
    p = sub.add_parser(
        "version",
        help="syncdp and browser versions",
        description="Print syncdp's version, then launch the browser and print its version "
        "and protocol version.",
    )
    p.add_argument("--no-browser", action="store_true", help="do not launch the browser")
    _add_browser_options(p, "for the browser to answer")
    p.set_defaults(func=_cmd_version)

    from syncdp.devtools import stubgen

    p = sub.add_parser(
        "stubs",
        help="write typed stubs of a browser's own CDP protocol (for mypy)",
        usage="%(prog)s [SOURCE] [-o DIR] [options]",
        description=_STUBS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stubgen.add_arguments(p)
    p.set_defaults(func=_cmd_stubs)

    p = sub.add_parser(
        "demo",
        help="the README demo: local page, title, screenshot",
        description="Serve a demo page on 127.0.0.1, launch headless Chromium, read the page's "
        "title and description, click its button and save a screenshot (no internet needed).",
    )
    p.add_argument(
        "-o",
        "--output",
        default="syncdp-demo.png",
        type=_image_path,
        help="screenshot file (.png, .jpg, .webp; default: %(default)s)",
    )
    _add_browser_options(p, "for each step: loading the page, each script")
    p.set_defaults(func=_cmd_demo)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdp",
        description="Drive headless Chromium from the shell.",
        epilog="The browser: --browser PATH, else $SYNCDP_BROWSER, else $CHROME_PATH, else "
        "chromium/google-chrome on PATH or in the usual install places. "
        "'syncdp COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version="syncdp %s" % __version__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: wire traffic)"
    )
    _add_commands(parser)
    return parser


# -- errors and main ---------------------------------------------------------------------


def _error_lines(exc: BaseException, args: argparse.Namespace) -> List[str]:
    """What to print for ``exc``: one line, plus the browser's stderr for a failed launch."""
    if isinstance(exc, BrowserNotFoundError):
        if getattr(args, "browser", None):
            return ["--browser %s: no such executable (a path, or a name on PATH)" % args.browser]
        tried = exc.tried[:6] + (["..."] if len(exc.tried) > 6 else [])
        return [
            "no Chromium or Chrome found (looked for %s); install Chromium (Debian/Ubuntu: "
            "apt-get install chromium) or pass --browser PATH or set SYNCDP_BROWSER"
            % ", ".join(tried)
        ]
    text = str(exc).strip()
    if isinstance(exc, BrowserLaunchError):
        head = text.split("; browser stderr:", 1)[0].strip()
        tail = [line for line in exc.stderr_tail.splitlines() if line.strip()][-5:]
        return [head] + (["browser stderr (last lines):"] + ["  " + t for t in tail] if tail else [])
    return [text.splitlines()[0] if text else type(exc).__name__]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(_normalize_argv(sys.argv[1:] if argv is None else argv))
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose > 1 else logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        if args.verbose < 2:
            logging.getLogger("syncdp.wire").setLevel(logging.INFO)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("syncdp: interrupted", file=sys.stderr)
        return 130
    except (SyncdpError, OSError) as exc:
        lines = _error_lines(exc, args)
        print("syncdp: error: %s" % "\n".join(lines), file=sys.stderr)
        return 1


def console_main() -> None:  # pragma: no cover - the console script's entry point
    """Entry point of the ``syncdp`` console script."""
    sys.exit(main())
