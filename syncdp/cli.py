"""The ``syncdp`` command line: screenshot, pdf, eval, version and demo.

Errors are one clear line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from typing import Callable, Iterator, List, Optional, Sequence

from syncdp import __version__
from syncdp.browser import Chrome
from syncdp.exceptions import SyncdpError
from syncdp.localserver import DEMO_PAGE, LocalServer
from syncdp.tab import Tab

__all__ = ["main"]


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
        data = tab.take_screenshot(args.output, full_page=args.full_page)
    print("saved %s (%d bytes)" % (args.output, len(data)))
    return 0


def _cmd_pdf(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        data = tab.print_to_pdf(args.output, landscape=args.landscape)
    print("saved %s (%d bytes)" % (args.output, len(data)))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    with _page(args) as tab:
        value = tab.execute_script(args.expression)
    print(json.dumps(value, indent=None if args.compact else 2, ensure_ascii=False))
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    print("syncdp %s" % __version__)
    if not args.no_browser:
        with _browser(args) as browser:
            info = browser.version()
        print("%s (protocol %s)" % (info.get("product"), info.get("protocolVersion")))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    output = args.output
    started = time.monotonic()
    with LocalServer({"/": DEMO_PAGE}) as server:
        print("serving the demo page at %s" % server.url("/"))
        with _browser(args) as browser:
            version = browser.version()
            print("launched %s (pid %s)" % (version.get("product"), browser.process.pid))
            tab = browser.get_page()
            tab.go_to(server.url("/"))
            title = tab.execute_script("return document.title")
            description = tab.execute_script(
                "return document.querySelector('meta[name=\"description\"]')?.content || ''"
            )
            print("title: %s" % title)
            print("description: %s" % description)
            tab.query("#go").click()
            print("clicked the button; it now reads %r" % tab.query("#go").text)
            shot = tab.take_screenshot(output)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdp", description="Drive headless Chromium from the shell."
    )
    parser.add_argument("--version", action="version", version="syncdp %s" % __version__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: wire traffic)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--browser", help="browser executable (default: found automatically)")
    common.add_argument(
        "--browser-arg", action="append", metavar="FLAG", help="extra browser flag (repeatable)"
    )
    common.add_argument("--headful", action="store_true", help="show a window")
    common.add_argument("--timeout", type=float, default=30.0, help="navigation timeout in seconds")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("screenshot", parents=[common], help="save a screenshot of URL")
    p.add_argument("url")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--full-page", action="store_true")
    p.set_defaults(func=_cmd_screenshot)

    p = sub.add_parser("pdf", parents=[common], help="save URL as PDF")
    p.add_argument("url")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--landscape", action="store_true")
    p.set_defaults(func=_cmd_pdf)

    p = sub.add_parser("eval", parents=[common], help="evaluate EXPRESSION in URL, print JSON")
    p.add_argument("url")
    p.add_argument("expression")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("version", parents=[common], help="syncdp and browser versions")
    p.add_argument("--no-browser", action="store_true", help="do not launch the browser")
    p.set_defaults(func=_cmd_version)

    from syncdp import stubgen

    p = sub.add_parser(
        "stubs",
        help="write typed stubs of a browser's own CDP protocol (for mypy)",
        description=stubgen.__doc__.split("\n\n")[0] if stubgen.__doc__ else None,
    )
    stubgen.add_arguments(p)
    p.set_defaults(func=_cmd_stubs)

    p = sub.add_parser(
        "demo", parents=[common], help="the README demo: local page, title, screenshot"
    )
    p.add_argument("-o", "--output", default="syncdp-demo.png")
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
