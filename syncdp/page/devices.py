"""A small table of devices for ``tab.emulate(device=...)``.

The figures (viewport, screen, device scale factor, mobile, touch, user agent) are copied from
Playwright's device descriptors, ``packages/playwright-core/src/server/deviceDescriptorsSource.json``
(microsoft/playwright, Apache-2.0), which puppeteer's ``KnownDevices`` mostly agrees with. Add a
device by adding an entry with the same keys.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["DEVICES"]

_IPHONE_15 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.4 Mobile/15E148 Safari/604.1"
)
_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.4 Mobile/15E148 Safari/604.1"
)
_PIXEL_5 = (
    "Mozilla/5.0 (Linux; Android 11; Pixel 5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.5672.53 Mobile Safari/537.36"
)
_GALAXY_S9 = (
    "Mozilla/5.0 (Linux; Android 8.0.0; SM-G965U Build/R16NW) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/113.0.5672.53 Mobile Safari/537.36"
)
_DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.5672.53 Safari/537.36"
)

# name -> viewport (w, h), screen (w, h) or None, device_scale_factor, is_mobile, has_touch,
# user_agent.
DEVICES: Dict[str, Dict[str, Any]] = {
    "iPhone 13": {
        "viewport": (390, 664), "screen": (390, 844), "device_scale_factor": 3,
        "is_mobile": True, "has_touch": True, "user_agent": _IPHONE_15,
    },
    "iPhone 13 landscape": {
        "viewport": (750, 342), "screen": (390, 844), "device_scale_factor": 3,
        "is_mobile": True, "has_touch": True, "user_agent": _IPHONE_15,
    },
    "iPhone 13 Pro Max": {
        "viewport": (428, 746), "screen": (428, 926), "device_scale_factor": 3,
        "is_mobile": True, "has_touch": True, "user_agent": _IPHONE_15,
    },
    "iPad Mini": {
        "viewport": (768, 1024), "screen": None, "device_scale_factor": 2,
        "is_mobile": True, "has_touch": True, "user_agent": _IPAD,
    },
    "Pixel 5": {
        "viewport": (393, 727), "screen": (393, 851), "device_scale_factor": 2.75,
        "is_mobile": True, "has_touch": True, "user_agent": _PIXEL_5,
    },
    "Galaxy S9+": {
        "viewport": (320, 658), "screen": None, "device_scale_factor": 4.5,
        "is_mobile": True, "has_touch": True, "user_agent": _GALAXY_S9,
    },
    "Desktop Chrome": {
        "viewport": (1280, 720), "screen": (1920, 1080), "device_scale_factor": 1,
        "is_mobile": False, "has_touch": False, "user_agent": _DESKTOP_CHROME,
    },
}
