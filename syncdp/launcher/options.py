"""How to launch the browser: :class:`LaunchOptions`, the argument checks, the command line.

This module is the one home of syncdp's argument checks for launching (a path, a flag, a
number of seconds, ...): :mod:`syncdp.browser` uses the same functions, so ``Chrome(...)``
and ``LaunchOptions(...)`` refuse the same values with the same messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from syncdp._checks import check_bool, check_optional_path, check_seconds, check_text
from syncdp.exceptions import InvalidCommand
from syncdp.launcher.find import is_headless_shell

__all__ = [
    "DEFAULT_ARGS",
    "LaunchOptions",
    "build_command",
    "check_arguments",
    "check_env",
    "check_window_size",
]

#: Flags a closed, headless machine needs; all verified against Chromium 156.
DEFAULT_ARGS: tuple[str, ...] = (
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--mute-audio",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-pings",
    # Not --disable-crashpad-for-testing: with it Chromium 156 aborts every http(s)
    # navigation (net::ERR_ABORTED). The two chrome_crashpad_handler daemons it starts in
    # their own sessions escape the process-group kill instead; the watchdog (a subreaper)
    # inherits them and kills them, and --crash-dumps-dir (added per launch) keeps their
    # files inside the profile rather than ~/.config.
)

# Flags syncdp owns: the port, address and profile must be the ones it reads back.
_RESERVED_FLAGS = {
    "--remote-debugging-port": "syncdp always uses --remote-debugging-port=0 and reads the "
    "chosen port back",
    "--remote-debugging-address": "syncdp always binds DevTools to 127.0.0.1",
    "--remote-debugging-pipe": "use the pipe option (Chrome(pipe=True)) instead",
    "--user-data-dir": "use the user_data_dir option instead",
}

# -- the checks ------------------------------------------------------------------------------


def check_arguments(value: object) -> list[str]:
    """``value`` as a list of browser flags.

    Raises:
        InvalidCommand: not a list/tuple of non-empty ``str``, or a flag syncdp owns
            (``--remote-debugging-port``, ``--user-data-dir``, ...).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidCommand(
            f"arguments must be a list of flags such as ['--lang=en-US'], got {value!r}"
        )
    arguments: list[str] = []
    for index, arg in enumerate(value):
        check_text(arg, f"arguments[{index}]", "a non-empty str")
        name = arg.split("=", 1)[0]
        if name in _RESERVED_FLAGS:
            raise InvalidCommand(f"arguments: {arg!r} is not allowed: {_RESERVED_FLAGS[name]}")
        arguments.append(arg)
    return arguments


def check_window_size(value: object) -> tuple[int, int] | None:
    """``value`` as ``(width, height)``, or ``None``.

    Raises:
        InvalidCommand: not two positive ints (at most 100000) nor ``None``.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        width, height = value
        if all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100_000
            for v in (width, height)
        ):
            return (width, height)
    raise InvalidCommand(
        f"window_size must be (width, height) in pixels, two positive ints, or None; "
        f"got {value!r}"
    )


def check_env(value: object) -> dict[str, str]:
    """``value`` as a dict of environment variables.

    Raises:
        InvalidCommand: not a mapping of valid names to ``str`` values without NUL.
    """
    if not isinstance(value, Mapping):
        raise InvalidCommand(f"env must be a dict of str to str or None, got {value!r}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise InvalidCommand(f"env: variable name {key!r} is not a valid name")
        if not isinstance(item, str) or "\0" in item:
            raise InvalidCommand(f"env[{key!r}] must be a str, got {item!r}")
        env[key] = item
    return env


# -- the options -----------------------------------------------------------------------------


@dataclass
class LaunchOptions:
    """How to launch the browser.

    Attributes:
        binary_location: the executable (see :func:`~syncdp.launcher.find_browser`); found
            when ``None``.
        headless: run with ``--headless=new``. A headless-only build
            (:func:`~syncdp.launcher.find.is_headless_shell`) is always headless and refuses
            ``False`` when it starts.
        arguments: extra command-line arguments, appended after syncdp's own. A
            ``--disable-features=`` list is merged with the default one.
        user_data_dir: a persistent profile directory (created if missing, never removed).
            ``None`` gives a fresh private temporary profile, removed by ``stop()``.
        window_size: ``(width, height)`` for ``--window-size``; ``None`` leaves it out.
        proxy: a proxy server for ``--proxy-server``.
        start_timeout: seconds to wait for the DevTools endpoint.
        no_sandbox: add ``--no-sandbox``; ``None`` adds it only when running as root.
        env: extra environment variables for the browser, merged over ``os.environ``.
        pipe: speak CDP over ``--remote-debugging-pipe`` (the browser's fds 3 and 4)
            instead of a port: no TCP socket is opened at all.

    Every option is checked when the object is made and again by
    :meth:`BrowserProcess.start <syncdp.launcher.BrowserProcess.start>`: a wrong type or
    value raises :class:`~syncdp.exceptions.InvalidCommand` naming the option, before
    anything runs.
    """

    binary_location: str | None = None
    headless: bool = True
    arguments: list[str] = field(default_factory=list)
    user_data_dir: str | None = None
    window_size: tuple[int, int] | None = (1280, 720)
    proxy: str | None = None
    start_timeout: float = 20.0
    no_sandbox: bool | None = None
    env: dict[str, str] | None = None
    pipe: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every option (and normalize: paths to ``str``, ``arguments`` to a list,
        ``window_size`` to a tuple). Run at construction and again by ``start()``, since
        the attributes may be changed in between.

        Raises:
            InvalidCommand: an option has the wrong type or value; the message names it.
        """
        self.binary_location = check_optional_path(self.binary_location, "binary_location")
        self.user_data_dir = check_optional_path(self.user_data_dir, "user_data_dir")
        check_bool(self.headless, "headless")
        check_bool(self.pipe, "pipe")
        if self.no_sandbox is not None:
            check_bool(self.no_sandbox, "no_sandbox")
        self.arguments = check_arguments(self.arguments)
        self.window_size = check_window_size(self.window_size)
        if self.proxy is not None:
            check_text(self.proxy, "proxy", "a proxy server such as 'http://127.0.0.1:3128'")
        check_seconds(self.start_timeout, "start_timeout")
        if self.env is not None:
            self.env = check_env(self.env)


# -- the command line ------------------------------------------------------------------------


def _running_as_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _defaults_merged(arguments: list[str]) -> tuple[list[str], list[str]]:
    """(:data:`DEFAULT_ARGS` with the user's ``--disable-features=`` merged in, the user's
    other arguments)."""
    disabled_features: list[str] = []
    extra: list[str] = []
    for arg in arguments:
        if arg.startswith("--disable-features="):
            disabled_features.extend(f for f in arg.split("=", 1)[1].split(",") if f)
        else:
            extra.append(arg)
    defaults: list[str] = []
    for arg in DEFAULT_ARGS:
        if disabled_features and arg.startswith("--disable-features="):
            merged = arg.split("=", 1)[1].split(",")
            merged.extend(f for f in disabled_features if f not in merged)
            arg = "--disable-features=" + ",".join(merged)
        defaults.append(arg)
    return defaults, extra


def _optional_flags(binary: str, options: LaunchOptions) -> Iterator[str]:
    if is_headless_shell(binary):
        if not options.headless:
            raise InvalidCommand(
                f"headless=False: {binary} is a headless-only build of Chromium; name a full "
                "Chromium or Chrome (binary_location=, SYNCDP_BROWSER) to show a window"
            )
        # Full Chromium isolates sites by default, the shell does not: with this, cross-site
        # iframes are out-of-process frames (their own targets and sessions) on both.
        yield "--site-per-process"
    elif options.headless:
        yield "--headless=new"
    if options.window_size is not None:
        width, height = options.window_size
        yield f"--window-size={width:d},{height:d}"
    if options.proxy:
        yield f"--proxy-server={options.proxy}"
    no_sandbox = options.no_sandbox
    if no_sandbox is None:
        no_sandbox = _running_as_root()  # Chrome refuses to run as root with its sandbox
    if no_sandbox:
        yield "--no-sandbox"


def build_command(binary: str, options: LaunchOptions, profile: str) -> list[str]:
    """The browser's argv.

    Args:
        binary: the executable (from :func:`~syncdp.launcher.find_browser`).
        options: checked options (:meth:`LaunchOptions.validate`).
        profile: the absolute profile directory.

    Returns:
        The argv: syncdp's flags, then the user's arguments, then ``about:blank`` unless
        the arguments hold a URL.

    Raises:
        InvalidCommand: ``headless=False`` with a headless-only build of Chromium.
    """
    defaults, extra = _defaults_merged(options.arguments)
    command = [binary, *defaults]
    if options.pipe:  # CDP on fds 3 (in) and 4 (out): no port, nothing listening
        command.append("--remote-debugging-pipe")
    else:
        # Port 0: the kernel picks a free port and Chrome writes it to DevToolsActivePort.
        # Never --remote-allow-origins=*: syncdp's websocket sends no Origin header.
        command += ["--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]
    command += [
        # Always an explicit profile: Chrome 136+ ignores remote debugging on the default one.
        f"--user-data-dir={profile}",
        f"--crash-dumps-dir={os.path.join(profile, 'crashpad')}",
    ]
    command += _optional_flags(binary, options)
    command += extra
    if not any(not arg.startswith("-") for arg in extra):
        command.append("about:blank")  # otherwise the first tab opens the new-tab page
    return command
