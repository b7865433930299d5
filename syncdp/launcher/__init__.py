"""Launch and stop a local Chromium/Chrome: find the binary, spawn it, read its DevTools port.

This package knows processes, not CDP (like chromedp's ``allocate.go``): it hands back a port
and a browser websocket URL; :mod:`syncdp.browser` connects to them.

::

    with BrowserProcess(LaunchOptions(headless=True)) as proc:
        port, url = proc.port, proc.ws_url

Modules: :mod:`~syncdp.launcher.find` (the executable), :mod:`~syncdp.launcher.options`
(:class:`LaunchOptions`, the argument checks, the command line),
:mod:`~syncdp.launcher.profile` (temporary profile, ``DevToolsActivePort``, singleton
clean-up), :mod:`~syncdp.launcher.process` (spawning, the process tree, signals, reaping,
stderr; its docstring explains the watchdog), :mod:`~syncdp.launcher.watchdog` (the watchdog
program, run by path), :mod:`~syncdp.launcher.linux` (``/proc`` facts) and
:mod:`~syncdp.launcher.launch` (:class:`BrowserProcess`).
"""

from __future__ import annotations

from syncdp.launcher.find import BROWSER_NAMES, find_browser
from syncdp.launcher.launch import BrowserProcess
from syncdp.launcher.options import DEFAULT_ARGS, LaunchOptions

__all__ = ["BROWSER_NAMES", "DEFAULT_ARGS", "BrowserProcess", "LaunchOptions", "find_browser"]
