"""Screenshots and PDFs of one tab."""

from __future__ import annotations

import base64
from typing import Any, Dict, Optional

from syncdp._checks import check_path, check_timeout
from syncdp.exceptions import InvalidCommand
from syncdp.page.core import PageCore
from syncdp.screenshot import PathArg, Pdf, Screenshot

__all__ = ["Capture"]


def _image_params(format: str, quality: Optional[int]) -> Dict[str, Any]:  # noqa: A002
    if format not in ("png", "jpeg", "webp"):
        raise InvalidCommand("format must be 'png', 'jpeg' or 'webp', got %r" % (format,))
    params: Dict[str, Any] = {"format": format}
    if quality is not None:
        if format == "png":
            raise InvalidCommand("quality applies to jpeg and webp only, not png")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise InvalidCommand("quality must be an int from 0 to 100, got %r" % (quality,))
        params["quality"] = quality
    return params


class Capture:
    """The capture side of a tab (see :meth:`Tab.take_screenshot`)."""

    def __init__(self, core: PageCore) -> None:
        self._core = core

    def screenshot(
        self,
        path: Optional[PathArg],
        format: str,  # noqa: A002 - the CDP option's name
        quality: Optional[int],
        full_page: bool,
        clip: Optional[Dict[str, float]] = None,
    ) -> Screenshot:
        """See :meth:`Tab.take_screenshot`; ``clip`` captures that page area only."""
        if path is not None:
            check_path(path)
        params = _image_params(format, quality)
        if clip is None and full_page:
            metrics = self._core.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        if clip is not None:
            params["clip"] = clip
            params["captureBeyondViewport"] = True
        answer = self._core.send("Page.captureScreenshot", params, timeout=60)
        data = Screenshot(base64.b64decode(answer["data"]))
        if path is not None:
            data.save(path)
        return data

    def pdf(
        self,
        path: Optional[PathArg],
        landscape: bool,
        print_background: bool,
        scale: float,
        timeout: Optional[float],
        options: Dict[str, Any],
    ) -> Pdf:
        """See :meth:`Tab.print_to_pdf`."""
        if path is not None:
            check_path(path)
        timeout = check_timeout(timeout)
        params: Dict[str, Any] = {
            "landscape": landscape,
            "printBackground": print_background,
            "scale": scale,
        }
        params.update(options)
        answer = self._core.send("Page.printToPDF", params, timeout=timeout)
        data = Pdf(base64.b64decode(answer["data"]))
        if path is not None:
            data.save(path)
        return data
