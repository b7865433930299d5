"""Emulation of one tab: viewport, device, user agent, locale, time zone, geolocation, color
scheme and offline mode (``tab.emulate``, Playwright's option names).

Every option is checked before anything is sent (``InvalidCommand`` names the bad one). An
option left out (``None``) keeps its current state; a device from :data:`DEVICES` supplies
viewport, screen, scale factor, mobile, touch and user agent, which explicit options override.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from syncdp.exceptions import CommandError, InvalidCommand
from syncdp.page.core import PageCore
from syncdp.page.devices import DEVICES

__all__ = ["Emulation", "check_emulation", "COLOR_SCHEMES"]

logger = logging.getLogger(__name__)

COLOR_SCHEMES = ("light", "dark", "no-preference")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_MAX_SIDE = 10_000_000  # Chromium's own limit for an emulated screen side


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidCommand("%s must be a finite number, got %r" % (what, value))
    return float(value)


def _size(value: Any, what: str) -> Tuple[int, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= _MAX_SIDE for v in value)
    ):
        raise InvalidCommand("%s must be a (width, height) pair of positive ints, got %r" % (what, value))
    return int(value[0]), int(value[1])


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidCommand("%s must be True or False, got %r" % (what, value))
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand("%s must be a non-empty string, got %r" % (what, value))
    return value


def _scale(value: Any, what: str) -> float:
    number = _number(value, what)
    if number <= 0:
        raise InvalidCommand("%s must be > 0, got %r" % (what, value))
    return number


def _locale(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _LOCALE.match(value):
        raise InvalidCommand("%s must be a locale like 'en-US' or 'de-DE', got %r" % (what, value))
    return value


def _geolocation(value: Any, what: str) -> Tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise InvalidCommand("%s must be a (latitude, longitude) pair, got %r" % (what, value))
    latitude, longitude = _number(value[0], what + " latitude"), _number(value[1], what + " longitude")
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise InvalidCommand(
            "%s must have a latitude in [-90, 90] and a longitude in [-180, 180], got %r"
            % (what, value)
        )
    return latitude, longitude


def _color_scheme(value: Any, what: str) -> str:
    if value not in COLOR_SCHEMES:
        raise InvalidCommand("%s must be one of %s, got %r" % (what, COLOR_SCHEMES, value))
    return str(value)


_CHECKS: Dict[str, Callable[[Any, str], Any]] = {
    "viewport": _size,
    "screen": _size,
    "device_scale_factor": _scale,
    "is_mobile": _flag,
    "has_touch": _flag,
    "user_agent": _text,
    "locale": _locale,
    "timezone_id": _text,
    "geolocation": _geolocation,
    "color_scheme": _color_scheme,
    "offline": _flag,
}


def check_emulation(device: Any, options: Dict[str, Any]) -> Dict[str, Any]:
    """The checked options, the device's figures under the explicit ones; ``None`` dropped.

    Raises:
        InvalidCommand: an unknown device or a bad option (named).
    """
    merged: Dict[str, Any] = {}
    if device is not None:
        if not isinstance(device, str) or device not in DEVICES:
            raise InvalidCommand("device must be one of %s, got %r" % (sorted(DEVICES), device))
        merged.update((k, v) for k, v in DEVICES[device].items() if v is not None)
    for name, value in options.items():
        if name not in _CHECKS:
            raise InvalidCommand("unknown emulation option %r (known: %s)" % (name, sorted(_CHECKS)))
        if value is not None:
            merged[name] = value
    return {name: _CHECKS[name](value, name) for name, value in merged.items()}


class Emulation:
    """The emulation side of a tab (see :meth:`Tab.emulate`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core
        self._lock = threading.Lock()  # one emulate() at a time: the state below is merged
        self._metrics: Optional[Dict[str, Any]] = None
        self._user_agent: Optional[str] = None
        self._locale: Optional[str] = None
        self._applied: Dict[str, Any] = {}  # every option set so far: sent again on reconnect
        core.on_reconnect(self._reapply)

    def _reapply(self) -> None:
        with self._lock:
            applied = dict(self._applied)
        if applied:
            self.emulate(applied)

    def emulate(self, options: Dict[str, Any]) -> None:
        """Apply checked options (from :func:`check_emulation`)."""
        send = self._core.send
        with self._lock:
            # The two the browser may refuse go first, before anything else changed.
            if "timezone_id" in options:
                self._refusable(
                    "timezone_id", "Emulation.setTimezoneOverride", {"timezoneId": options["timezone_id"]}
                )
            if "locale" in options:
                self._refusable("locale", "Emulation.setLocaleOverride", {"locale": options["locale"]})
                self._locale = options["locale"]
            for method, params in self._commands(options):
                send(method, params)
            if "offline" in options:
                self._set_offline(options["offline"])
            self._applied.update(options)

    def _refusable(self, what: str, method: str, params: Dict[str, Any]) -> None:
        try:
            self._core.send(method, params)
        except CommandError as exc:
            if exc.code != -32000 and exc.code != -32602:
                raise
            raise InvalidCommand("%s was refused by the browser: %s" % (what, exc.message)) from exc

    def _commands(self, options: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
        commands: List[Tuple[str, Dict[str, Any]]] = []
        if any(k in options for k in ("viewport", "screen", "device_scale_factor", "is_mobile")):
            commands.append(("Emulation.setDeviceMetricsOverride", self._metrics_params(options)))
        if "has_touch" in options:
            touch: Dict[str, Any] = {"enabled": options["has_touch"]}
            if options["has_touch"]:
                touch["maxTouchPoints"] = 5
            commands.append(("Emulation.setTouchEmulationEnabled", touch))
        if "user_agent" in options or "locale" in options:
            commands.append(("Emulation.setUserAgentOverride", self._user_agent_params(options)))
        if "geolocation" in options:
            latitude, longitude = options["geolocation"]
            commands.append(
                (
                    "Emulation.setGeolocationOverride",
                    {"latitude": latitude, "longitude": longitude, "accuracy": 0},
                )
            )
        if "color_scheme" in options:
            feature = {"name": "prefers-color-scheme", "value": options["color_scheme"]}
            commands.append(("Emulation.setEmulatedMedia", {"features": [feature]}))
        return commands

    def _metrics_params(self, options: Dict[str, Any]) -> Dict[str, Any]:
        metrics = self._metrics
        if metrics is None:
            width, height = self._core.host.viewport() or (1280, 720)
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        metrics = dict(metrics)
        if "viewport" in options:
            metrics["width"], metrics["height"] = options["viewport"]
        if "screen" in options:
            metrics["screenWidth"], metrics["screenHeight"] = options["screen"]
        if "device_scale_factor" in options:
            metrics["deviceScaleFactor"] = options["device_scale_factor"]
        if "is_mobile" in options:
            metrics["mobile"] = options["is_mobile"]
        self._metrics = metrics
        return metrics

    def _user_agent_params(self, options: Dict[str, Any]) -> Dict[str, Any]:
        user_agent = options.get("user_agent") or self._user_agent
        if user_agent is None:
            # Only the Accept-Language changes: keep the browser's own user agent.
            user_agent = str(self._core.send("Browser.getVersion").get("userAgent", ""))
        else:
            self._user_agent = user_agent
        params: Dict[str, Any] = {"userAgent": user_agent}
        if self._locale is not None:
            params["acceptLanguage"] = self._locale
        return params

    def _set_offline(self, offline: bool) -> None:
        domains, send = self._core.domains, self._core.send
        if offline:
            # The non-deprecated pair: requests fail (ByRule) and navigator.onLine says so.
            domains.acquire("Network", "offline")
            conditions = {"urlPattern": "", "offline": True, "latency": 0,
                          "downloadThroughput": -1, "uploadThroughput": -1}
            send("Network.emulateNetworkConditionsByRule", {"matchedNetworkConditions": [conditions]})
            send("Network.overrideNetworkState", {"offline": True, "latency": 0,
                                                  "downloadThroughput": -1, "uploadThroughput": -1})
            return
        if "offline" not in domains.users("Network"):
            return
        send("Network.emulateNetworkConditionsByRule", {"matchedNetworkConditions": []})
        send("Network.overrideNetworkState", {"offline": False, "latency": 0,
                                              "downloadThroughput": -1, "uploadThroughput": -1})
        domains.release("Network", "offline")
