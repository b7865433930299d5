"""The browser's profile directory: a private temporary one or the user's persistent one,
the ``DevToolsActivePort`` file the browser writes there, and clean-up after it."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from urllib.parse import urlsplit

from syncdp.exceptions import BrowserLaunchError
from syncdp.launcher.watchdog import remove_singleton

__all__ = [
    "clean_singleton",
    "make_temp_profile",
    "parse_ws_url",
    "prepare_profile",
    "read_active_port",
    "remove_tree",
]

logger = logging.getLogger(__name__)

_ACTIVE_PORT = "DevToolsActivePort"
# SingletonLock last: it is what a retry (after an interrupted stop) checks the pid against.


def make_temp_profile() -> str:
    """A fresh private (mode 700) temporary profile directory.

    Raises:
        BrowserLaunchError: the directory did not get mode 700 (it holds cookies).
    """
    path = tempfile.mkdtemp(prefix="syncdp-profile-")
    # mkdtemp creates it 0700; the profile holds cookies and the DevToolsActivePort file.
    mode = os.stat(path).st_mode & 0o777
    if mode != 0o700 and os.name == "posix":
        shutil.rmtree(path, ignore_errors=True)
        raise BrowserLaunchError(f"temporary profile {path} was created with mode {mode:o}, not 700")
    return path


def prepare_profile(profile: str) -> None:
    """Create a persistent profile directory if missing and drop a stale
    ``DevToolsActivePort`` (an earlier run's file would hand us a dead port)."""
    os.makedirs(profile, exist_ok=True)
    try:
        os.unlink(os.path.join(profile, _ACTIVE_PORT))
    except FileNotFoundError:
        pass


def read_active_port(profile: str) -> tuple[int, str] | None:
    """(port, browser ws path) from ``DevToolsActivePort``, or None while it is not complete."""
    try:
        with open(os.path.join(profile, _ACTIVE_PORT), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, ValueError):
        return None
    if len(lines) < 2 or not lines[0].strip().isdigit() or not lines[1].startswith("/"):
        return None
    port = int(lines[0].strip())
    return (port, lines[1].strip()) if 0 < port < 65536 else None


def parse_ws_url(url: str) -> tuple[int, str] | None:
    """(port, path) of a ``ws://host:port/path`` URL, or None when it has no port or path."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port is None or not parts.path.startswith("/"):
        return None
    return port, parts.path


def clean_singleton(profile: str, pid: int | None) -> None:
    """Remove the singleton links a killed browser left, and its socket dir in $TMPDIR.

    Only when ``SingletonLock`` names our browser's pid: a profile in use by another live
    browser is left alone.
    """
    if pid is not None:
        remove_singleton(profile, pid)  # the watchdog's own clean-up, one copy


def remove_tree(path: str, attempts: int = 10) -> None:
    """rmtree, retried: a just-killed browser's last file writes may still be landing.

    Logs a warning (and returns) when the directory cannot be removed.
    """
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if attempt == attempts - 1:
                logger.warning("could not remove browser profile %s: %s", path, exc)
                return
            time.sleep(0.05 * (attempt + 1))
