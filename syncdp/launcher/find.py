"""Find a Chromium-family browser executable: an explicit path, the environment, ``PATH``,
then the usual install locations of this platform."""

from __future__ import annotations

import logging
import os
import shutil
import sys

from syncdp.exceptions import BrowserNotFoundError

__all__ = ["BROWSER_NAMES", "ENV_VARS", "find_browser", "install_paths", "is_headless_shell"]

logger = logging.getLogger(__name__)

#: Executable names looked up on ``PATH``, in order of preference.
BROWSER_NAMES: tuple[str, ...] = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "google-chrome-beta",
    "google-chrome-unstable",
    "msedge",
    "microsoft-edge",
    "microsoft-edge-stable",
    # Headless-only builds (Debian's package, Chrome for Testing's): last, so a full browser
    # is preferred where both are installed; see is_headless_shell.
    "chromium-headless-shell",
    "chrome-headless-shell",
)

#: Environment variables naming the executable, read in this order.
ENV_VARS: tuple[str, ...] = ("SYNCDP_BROWSER", "CHROME_PATH")


def install_paths() -> list[str]:
    """The usual install locations for this platform, in order of preference."""
    if sys.platform == "darwin":
        home = os.path.expanduser("~")
        apps = [
            "Google Chrome.app/Contents/MacOS/Google Chrome",
            "Chromium.app/Contents/MacOS/Chromium",
            "Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary",
            "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
        ]
        return [
            os.path.join(root, app)
            for root in ("/Applications", home + "/Applications")
            for app in apps
        ]
    if sys.platform == "win32":
        roots = [
            os.environ.get(name) for name in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")
        ]
        suffixes = [
            r"Google\Chrome\Application\chrome.exe",
            r"Chromium\Application\chrome.exe",
            r"Microsoft\Edge\Application\msedge.exe",
        ]
        return [os.path.join(root, suffix) for root in roots if root for suffix in suffixes]
    return [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/usr/bin/google-chrome-stable",
        "/snap/bin/chromium",
        "/opt/google/chrome/chrome",
        "/usr/local/bin/chromium",
        "/opt/microsoft/msedge/msedge",
        "/usr/lib/chromium/chromium",
    ]


def is_headless_shell(binary: str) -> bool:
    """Whether ``binary`` is a headless-only build of Chromium (``chromium-headless-shell``,
    Chrome for Testing's ``chrome-headless-shell``), told by its file name.

    Such a build always runs headless (``--headless`` is not passed to it, ``headless=False``
    is refused), costs about 0.4x the CPU of a full browser per launch, and gets
    ``--site-per-process`` (full Chromium's default: cross-site iframes are out-of-process
    frames on both). Where the browser, not the protocol, decides it differs from full
    Chromium's new headless mode: it shows an HTTP 401 page instead of failing the
    navigation, and reports ``HeadlessChrome/`` as its product.
    """
    name = os.path.basename(binary).lower()
    return "headless-shell" in name or "headless_shell" in name


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _resolve(candidate: str) -> str | None:
    """``candidate`` if it is an executable path, or a bare name found on ``PATH``."""
    candidate = os.path.expanduser(candidate)
    if os.sep in candidate or (os.altsep is not None and os.altsep in candidate):
        return candidate if _is_executable(candidate) else None
    return shutil.which(candidate)


def find_browser(binary_location: str | None = None) -> str:
    """Find a Chromium-family browser executable.

    Looks at, in order: ``binary_location``; the ``SYNCDP_BROWSER`` and ``CHROME_PATH``
    environment variables; the names in :data:`BROWSER_NAMES` on ``PATH``; the usual
    install locations of this platform. An explicit ``binary_location`` is final: when it
    is not an executable file nothing else is tried. So is a set environment variable: one
    pointing nowhere raises :class:`BrowserNotFoundError` naming it.

    Args:
        binary_location: a path, or a bare name looked up on ``PATH``.

    Returns:
        The path of the executable.

    Raises:
        BrowserNotFoundError: nothing was found (``tried`` lists every path and name looked
            at), or ``SYNCDP_BROWSER``/``CHROME_PATH`` is set to something that is not an
            executable (``variable`` names it).
    """
    if binary_location:
        found = _resolve(binary_location)
        if found is None:
            raise BrowserNotFoundError([binary_location])
        return found
    tried: list[str] = []
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            found = _resolve(value)
            if found is not None:
                return found
            # The user said which browser to use: another one found further down would run
            # with a setting they did not ask for.
            raise BrowserNotFoundError([value], variable=var)
    for name in BROWSER_NAMES:
        tried.append(name)
        found = shutil.which(name)
        if found is not None:
            return found
    for path in install_paths():
        tried.append(path)
        if _is_executable(path):
            return path
    raise BrowserNotFoundError(tried)
