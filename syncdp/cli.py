"""The ``syncdp`` command line: screenshot, pdf, eval, version and demo.

Errors are one clear line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

from syncdp import __version__
from syncdp.browser import Chrome
from syncdp.exceptions import SyncdpError
from syncdp.localserver import DEMO_PAGE, LocalServer
from syncdp.tab import Tab

__all__ = ["main"]

#: Image formats by file extension (``Page.captureScreenshot``'s ``format``).
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
DEFAULT_TIMEOUT = 30.0


def _image_path(path: str) -> str:
    """argparse type of a screenshot's ``-o``: the extension must name an image format."""
    if os.path.splitext(path)[1].lower() not in IMAGE_FORMATS:
        raise argparse.ArgumentTypeError(
            "cannot tell the image format from %r: name the file .png, .jpg, .jpeg or .webp"
            % (path,)
        )
    return path


def _image_format(path: str) -> str:
    return IMAGE_FORMATS[os.path.splitext(path)[1].lower()]


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


def _browser(args: argparse.Namespace) -> Chrome:
    extra: List[str] = list(args.browser_arg or [])
    return Chrome(binary_location=args.browser, arguments=extra, headless=not args.headful)


@contextlib.contextmanager
def _page(args: argparse.Namespace) -> Iterator[Tab]:
    """A launched browser's page, navigated to ``args.url``; the browser stops after."""
    with _browser(args) as browser:
        tab = browser.get_page()
        tab.go_to(args.url, timeout=args.timeout)
        yield tab


def _cmd_screenshot(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        data = tab.take_screenshot(
            args.output, format=_image_format(args.output), full_page=args.full_page
        )
    print("saved %s (%d bytes, %s)" % (args.output, len(data), data.format))
    return 0


def _cmd_pdf(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        data = tab.print_to_pdf(args.output, landscape=args.landscape, timeout=args.timeout)
    print("saved %s (%d bytes)" % (args.output, len(data)))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        value = tab.execute_script(args.expression, timeout=args.timeout)
    print(json.dumps(value, indent=None if args.compact else 2, ensure_ascii=False))
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    print("syncdp %s" % __version__)
    if not args.no_browser:
        with _browser(args) as browser:
            info = browser.send("Browser.getVersion", timeout=args.timeout)
        print("%s (protocol %s)" % (info.get("product"), info.get("protocolVersion")))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    output = args.output
    started = time.monotonic()
    with LocalServer({"/": DEMO_PAGE}) as server:
        print("serving the demo page at %s" % server.url("/"))
        with _browser(args) as browser:
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
    from syncdp import stubgen

    files = stubgen.run(args)
    print(
        "wrote %d files: package %s in %s"
        % (len(files), args.package, os.path.abspath(args.output))
    )
    return 0


def _add_browser_options(p: argparse.ArgumentParser, timeout_covers: str) -> None:
    """The options of every command that launches a browser."""
    group = p.add_argument_group("browser options")
    group.add_argument("--browser", help="browser executable (default: found automatically)")
    group.add_argument(
        "--browser-arg", action="append", metavar="FLAG", help="extra browser flag (repeatable)"
    )
    group.add_argument("--headful", action="store_true", help="show a window")
    group.add_argument(
        "--timeout",
        action=_Seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds allowed %s (default: %%(default)g)" % timeout_covers,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdp", description="Drive headless Chromium from the shell."
    )
    parser.add_argument("--version", action="version", version="syncdp %s" % __version__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: wire traffic)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "screenshot",
        help="save a screenshot of URL",
        description="Load URL in headless Chromium and save a screenshot; the format follows "
        "the file name: .png, .jpg/.jpeg or .webp.",
    )
    p.add_argument("url")
    p.add_argument(
        "-o", "--output", required=True, type=_image_path, help="image file (.png, .jpg, .webp)"
    )
    p.add_argument("--full-page", action="store_true", help="the whole page, not the viewport")
    _add_browser_options(p, "for loading the page")
    p.set_defaults(func=_cmd_screenshot)

    p = sub.add_parser("pdf", help="save URL as PDF", description="Save URL as a PDF file.")
    p.add_argument("url")
    p.add_argument("-o", "--output", required=True, help="PDF file")
    p.add_argument("--landscape", action="store_true")
    _add_browser_options(p, "for loading the page, and again for rendering the PDF")
    p.set_defaults(func=_cmd_pdf)

    p = sub.add_parser(
        "eval",
        help="evaluate EXPRESSION in URL, print JSON",
        description="Load URL, evaluate a JavaScript expression (or a function body with "
        "'return') there, awaiting a promise, and print its value as JSON.",
    )
    p.add_argument("url")
    p.add_argument("expression")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    _add_browser_options(p, "for loading the page, and again for evaluating EXPRESSION")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("version", help="syncdp and browser versions")
    p.add_argument("--no-browser", action="store_true", help="do not launch the browser")
    _add_browser_options(p, "for the browser to answer")
    p.set_defaults(func=_cmd_version)

    from syncdp import stubgen

    p = sub.add_parser(
        "stubs",
        help="write typed stubs of a browser's own CDP protocol (for mypy)",
        description=stubgen.__doc__.split("\n\n")[0] if stubgen.__doc__ else None,
    )
    stubgen.add_arguments(p)
    p.set_defaults(func=_cmd_stubs)

    p = sub.add_parser("demo", help="the README demo: local page, title, screenshot")
    p.add_argument(
        "-o",
        "--output",
        default="syncdp-demo.png",
        type=_image_path,
        help="screenshot file (.png, .jpg, .webp; default: %(default)s)",
    )
    _add_browser_options(p, "for each step: loading the page, each script")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print("syncdp: error: %s" % first, file=sys.stderr)
        return 1


def console_main() -> None:  # pragma: no cover - the console script's entry point
    """Entry point of the ``syncdp`` console script."""
    sys.exit(main())
