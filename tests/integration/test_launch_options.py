"""Launch options and connection arguments are checked up front, against real processes.

Bad ``Chrome``/``LaunchOptions``/``connect`` arguments raise ``InvalidCommand`` naming the
parameter and the bad value, at construction, before anything is launched or connected;
the accepted forms (a ``Path``, a list for ``window_size``, a tuple of arguments) launch.
"""

from __future__ import annotations

import math
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from pages import CHROMIUM, needs_chromium
from syncdp import Browser, Chrome, connect
from syncdp.exceptions import InvalidCommand
from syncdp.launcher import LaunchOptions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

def _syncdp_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("syncdp-"))


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary profiles go to a private directory, checked for leftovers afterwards."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    leftovers = sorted(p.name for p in directory.iterdir() if p.name.startswith("syncdp-"))
    assert not leftovers, "temporary profiles left behind: %s" % leftovers


# -- every option checked up front -------------------------------------------------------

BAD_CHROME_OPTIONS: List[Any] = [
    # (parameter, bad value, what the message must show of it)
    ("dialog_policy", "maybe", "'maybe'"),
    ("start_timeout", -1, "-1"),
    ("start_timeout", 0, "got 0"),
    ("start_timeout", math.nan, "nan"),
    ("start_timeout", "20", "'20'"),
    ("connect_timeout", 0, "got 0"),
    ("connect_timeout", -2.5, "-2.5"),
    ("headless", "no", "'no'"),
    ("headless", None, "None"),
    ("proxy", 5, "got 5"),
    ("proxy", "", "got ''"),
    ("arguments", [1, 2], "arguments[0] must be a non-empty str, got 1"),
    ("arguments", "--foo", "'--foo'"),
    ("arguments", ["--lang=en-US", None], "arguments[1] must be a non-empty str, got None"),
    ("arguments", 5, "got 5"),
    ("arguments", ["--user-data-dir=/tmp/elsewhere"], "'--user-data-dir=/tmp/elsewhere'"),
    ("window_size", "800x600", "'800x600'"),
    ("window_size", (0, 600), "(0, 600)"),
    ("window_size", (800, -1), "(800, -1)"),
    ("window_size", (800,), "(800,)"),
    ("window_size", (800.5, 600), "(800.5, 600)"),
    ("window_size", (True, 600), "(True, 600)"),
    ("binary_location", 5, "got 5"),
    ("binary_location", "", "got ''"),
    ("user_data_dir", 5, "got 5"),
    ("tab_mode", "carrier-pigeon", "'carrier-pigeon'"),
]


@pytest.mark.parametrize(("name", "value", "shown"), BAD_CHROME_OPTIONS)
def test_chrome_rejects_a_bad_option_at_construction(
    name: str, value: Any, shown: str, private_tmpdir: Path
) -> None:
    with pytest.raises(InvalidCommand) as info:
        Chrome(**{name: value})
    message = str(info.value)
    assert message.startswith(name), message  # names the parameter...
    assert shown in message, message  # ...and the bad value
    assert list(private_tmpdir.iterdir()) == []  # nothing was launched: no profile either


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"env": {"A": 1}}, "env['A']"),
        ({"env": {"A=B": "1"}}, "env"),
        ({"env": "A=1"}, "env"),
        ({"no_sandbox": "yes"}, "no_sandbox"),
        ({"window_size": [0, 1]}, "window_size"),
    ],
)
def test_launch_options_reject_bad_values(kwargs: Dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        LaunchOptions(**kwargs)
    assert str(info.value).startswith(name), str(info.value)


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "name"),
    [
        (None, {"headers": "x"}, "headers"),
        (None, {"headers": {1: "a"}}, "headers"),
        (None, {"headers": {"X-Token": 1}}, "headers['X-Token']"),
        (None, {"headers": {"X-Token": "a\r\nInjected: yes"}}, "headers['X-Token']"),
        (None, {"headers": {"Bad Name": "a"}}, "headers"),
        (None, {"dialog_policy": "maybe"}, "dialog_policy"),
        (None, {"connect_timeout": -1}, "connect_timeout"),
        (None, {"tab_mode": "pigeon"}, "tab_mode"),
        (True, {}, "endpoint"),
        (0, {}, "endpoint"),
        (70000, {}, "endpoint"),
        ("nowhere", {}, "endpoint"),
    ],
)
def test_connect_rejects_bad_arguments_before_connecting(
    endpoint: Any, kwargs: Dict[str, Any], name: str, dead_port: int
) -> None:
    target = dead_port if endpoint is None else endpoint
    for make in (connect, Browser):
        with pytest.raises(InvalidCommand) as info:
            make(target, **kwargs)
        assert str(info.value).startswith(name), str(info.value)
    assert _syncdp_threads() == []


def test_connect_without_an_endpoint_is_invalid() -> None:
    with pytest.raises(InvalidCommand, match="endpoint must be"):
        connect(None)  # type: ignore[arg-type]


@needs_chromium
def test_the_accepted_forms_of_each_option_still_launch() -> None:
    # A Path, a list for window_size, a tuple of arguments: all fine, and normalized.
    with Chrome(
        binary_location=Path(CHROMIUM),  # type: ignore[arg-type]
        window_size=[800, 600],  # type: ignore[arg-type]
        arguments=("--lang=en-US",),
        dialog_policy="accept",
        start_timeout=30,
        connect_timeout=5,
    ) as browser:
        tab = browser.get_page()
        assert tab.execute_script("[innerWidth, innerHeight]") == [800, 600]
        with connect(browser.process.port, headers={"X-Test": "1"}) as other:
            assert "Chrome" in other.version()["product"]
