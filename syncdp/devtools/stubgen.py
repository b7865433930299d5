"""Typed stubs of a browser's CDP protocol, for editors and mypy: ``syncdp stubs``.

:func:`generate_stubs` turns a protocol descriptor into a small typed package:

* ``<package>/__init__.py``: ``CDP``, a ``typing.Protocol`` with one attribute per domain;
* ``<package>/<domain>.py`` (``page.py``, ``dom_snapshot.py``...): the domain's types
  (aliases, ``Literal`` enums, ``TypedDict`` objects), a ``TypedDict`` per command's
  parameters (``NavigateParams``) and result (``NavigateReturns``) and per event's params
  (``LoadEventFiredEventParams``), and ``PageDomain``, a ``typing.Protocol`` with one typed
  keyword-only method per command and one ``str`` attribute per event.

The modules are plain, importable Python (3.9+) that import nothing at runtime but
``typing``; every docstring is the protocol's. syncdp ships the output for its pinned
protocol as :mod:`syncdp.cdp_types`, which is what ``ConnectionHandler.cdp``, ``Tab.cdp`` and
``Browser.cdp`` are annotated with.

Stubs for *your* browser
------------------------
When your browser is newer (or older) than syncdp's pinned Chromium, generate stubs from its
own protocol and point the type checker at them::

    syncdp stubs --port 9222 -o typings           # a running browser (or --url URL)
    syncdp stubs --launch -o typings              # launch the local Chromium for it
    syncdp stubs --protocol-file protocol.json -o typings

This writes ``typings/cdp_types/`` (``--package NAME`` to rename it). Then:

* mypy: add ``mypy_path = typings`` to ``[mypy]`` in ``setup.cfg`` / ``mypy.ini`` (or
  ``[tool.mypy] mypy_path = "typings"`` in ``pyproject.toml``, or ``MYPYPATH=typings``);
  pyright / Pylance read ``typings/`` by default.
* in your code, view the runtime object through your stubs (structural typing: a cast, no
  runtime cost, nothing imported at runtime)::

      from typing import TYPE_CHECKING, cast
      if TYPE_CHECKING:
          from cdp_types import CDP

      cdp = cast("CDP", tab.cdp)
      cdp.Page.navigate(url="https://example.org")   # checked against your browser

``python -m syncdp.devtools.stubgen`` takes the same arguments (``python -m syncdp.stubgen``
still works). A development tool: nothing that ``import syncdp`` imports imports it. To
refresh syncdp's own pinned files (maintainers), from the repository root::

    python -m syncdp.devtools.stubgen --launch --save-protocol syncdp/data/protocol.json.gz \\
        --package syncdp.cdp_types -o .
"""

from __future__ import annotations

import argparse
import gzip
import json
import keyword
import logging
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Union

from syncdp.devtools.stubwriter import MARKER, DomainNames, DomainWriter, module_name, root_module, where
from syncdp.exceptions import InvalidCommand, SyncdpError
from syncdp.protocol import Protocol, load_protocol, pinned_protocol
from syncdp.protocol.model import PRODUCT_FIELD

__all__ = ["generate_stubs", "save_protocol", "add_arguments", "run", "main", "module_name", "MARKER"]

logger = logging.getLogger(__name__)


def _as_protocol(protocol: Union[Protocol, Mapping[str, Any]]) -> Protocol:
    return protocol if isinstance(protocol, Protocol) else Protocol(protocol)


def generate_stubs(
    protocol: Union[Protocol, Mapping[str, Any]],
    out_dir: str,
    package: str = "cdp_types",
) -> List[str]:
    """Write a typed stub package for ``protocol`` under ``out_dir``.

    Args:
        protocol: a :class:`~syncdp.protocol.Protocol` or a decoded ``/json/protocol``.
        out_dir: the directory to put on ``mypy_path`` (created if missing).
        package: the package name; dotted names become nested directories
            (``"syncdp.cdp_types"`` writes ``out_dir/syncdp/cdp_types/``). Files that an
            earlier run generated there and that this protocol no longer has are removed.

    Returns:
        The paths written, the package's ``__init__.py`` first.

    Raises:
        ValueError: ``package`` is not a dotted Python name, or ``protocol`` is not a
            descriptor.
    """
    proto = _as_protocol(protocol)
    parts = package.split(".")
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise ValueError("package must be a dotted Python name, got %r" % (package,))
    target = os.path.join(out_dir, *parts)
    os.makedirs(target, exist_ok=True)
    header = " from %s. Do not edit." % where(proto)
    modules = _module_names(proto)
    names = DomainNames(proto)
    classes: Dict[str, str] = {}
    contents: Dict[str, str] = {}
    for domain, spec in proto.domains.items():
        writer = DomainWriter(proto, spec, modules, names)
        contents[modules[domain] + ".py"] = writer.render(header)
        classes[domain] = writer.class_name
    init = root_module(proto, modules, classes, package, header)
    written = [_write(os.path.join(target, "__init__.py"), init)]
    for filename in sorted(contents):
        written.append(_write(os.path.join(target, filename), contents[filename]))
    if len(parts) == 1:
        written.append(_write(os.path.join(target, "py.typed"), ""))
    _remove_stale(target, {os.path.basename(p) for p in written})
    logger.info("wrote %d stub files for %s to %s", len(written), where(proto), target)
    return written


def _module_names(protocol: Protocol) -> Dict[str, str]:
    """Domain -> its module's name, unique within the package."""
    modules: Dict[str, str] = {}
    used: Set[str] = set()
    for domain in protocol.domains:
        name = module_name(domain)
        while name in used or name == "__init__":
            name += "_"
        used.add(name)
        modules[domain] = name
    return modules


def _remove_stale(target: str, keep: Set[str]) -> None:
    """Remove the modules an earlier run generated in ``target`` that this one did not."""
    for filename in sorted(os.listdir(target)):
        path = os.path.join(target, filename)
        if filename.endswith(".py") and filename not in keep and _is_generated(path):
            os.remove(path)
            logger.info("removed the stale stub module %s", path)


def _write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path


def _is_generated(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def save_protocol(protocol: Protocol, path: str) -> str:
    """Save ``protocol``'s descriptor as JSON, gzipped when ``path`` ends in ``.gz``.

    The browser product is recorded in it, so :meth:`Protocol.from_file` and
    :func:`~syncdp.protocol.pinned_protocol` know it again. Gzipped output is reproducible
    (no timestamp).
    """
    data = dict(protocol.descriptor)
    if protocol.product:
        data[PRODUCT_FIELD] = protocol.product
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(raw, 9, mtime=0) if path.endswith(".gz") else raw)
    return path


# -- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``syncdp stubs`` options to ``parser`` (for the ``syncdp`` CLI)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--port", type=int, help="a browser's DevTools port on 127.0.0.1")
    source.add_argument("--url", help="a browser endpoint: http://host:port or ws://...")
    source.add_argument(
        "--protocol-file", metavar="FILE", help="a saved /json/protocol (.json or .json.gz)"
    )
    source.add_argument(
        "--launch",
        action="store_true",
        help="launch the local Chromium/Chrome to read its protocol",
    )
    source.add_argument(
        "--pinned",
        action="store_true",
        help="syncdp's pinned protocol (what syncdp.cdp_types ships)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="typings",
        metavar="DIR",
        help="directory to put on mypy_path (default: typings)",
    )
    parser.add_argument(
        "--package", default="cdp_types", help="package name of the stubs (default: cdp_types)"
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="HTTP header for --port/--url (repeatable)",
    )
    parser.add_argument(
        "--browser",
        metavar="PATH",
        help="browser executable for --launch (default: found automatically)",
    )
    parser.add_argument(
        "--save-protocol",
        metavar="FILE",
        help="also save the descriptor (gzipped if FILE ends in .gz)",
    )


def _headers(items: Sequence[str]) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise InvalidCommand("--header wants NAME:VALUE, got %r" % (item,))
        headers[name.strip()] = value.strip()
    return headers


def _load(args: argparse.Namespace) -> Protocol:
    if args.protocol_file:
        return Protocol.from_file(args.protocol_file)
    if args.pinned:
        return pinned_protocol()
    if args.launch:
        from syncdp.launcher import BrowserProcess, LaunchOptions

        with BrowserProcess(LaunchOptions(binary_location=args.browser)) as process:
            return load_protocol(process.port)
    endpoint: Union[int, str] = args.port if args.port is not None else args.url
    return load_protocol(endpoint, headers=_headers(args.header) or None)


def run(args: argparse.Namespace) -> List[str]:
    """Do what parsed ``syncdp stubs`` arguments ask; returns the files written.

    Raises:
        ProtocolUnavailableError, ConnectFailedError: the browser's protocol cannot be had.
        InvalidCommand: a bad argument, or a file that is not a protocol descriptor.
        OSError: the files cannot be read or written.
    """
    try:
        protocol = _load(args)
        files = generate_stubs(protocol, args.output, args.package)
    except ValueError as exc:
        if isinstance(exc, SyncdpError):
            raise
        raise InvalidCommand(str(exc)) from exc
    if args.save_protocol:
        files.append(save_protocol(protocol, args.save_protocol))
    return files


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m syncdp.devtools.stubgen`` / ``syncdp stubs``: returns the exit status.

    Writes one summary line to stdout, or one error line to stderr (status 1).
    """
    parser = argparse.ArgumentParser(
        prog="syncdp stubs", description="Write typed stubs of a browser's CDP protocol."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        files = run(args)
    except (SyncdpError, OSError) as exc:
        sys.stderr.write("syncdp stubs: error: %s\n" % str(exc).strip().splitlines()[0])
        return 1
    sys.stdout.write("wrote %d files: package %s in %s\n" % (len(files), args.package, args.output))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
