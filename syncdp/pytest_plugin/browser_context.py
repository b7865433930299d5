"""The ``context`` fixture's object: one isolated browser context per test, its tabs, its
CDP message log, and the artifacts saved when the test fails."""

from __future__ import annotations

import base64
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from syncdp.exceptions import SyncdpError
from syncdp.pytest_plugin.messages import CdpMessageLog

if TYPE_CHECKING:  # pragma: no cover
    from syncdp.browser import Browser
    from syncdp.tab import Tab

__all__ = ["BrowserContext", "MESSAGE_LIMIT"]

logger = logging.getLogger(__name__)

MESSAGE_LIMIT = 200
"""How many CDP messages a context keeps for its failure artifacts."""
ARTIFACT_TIMEOUT = 10.0  # seconds per command while saving artifacts: a hung page must not hang pytest


class BrowserContext:
    """A browser context (its own cookies, storage and cache) for one test.

    What the ``context`` fixture yields. Tabs opened with :meth:`new_tab` are in the context,
    get the test's viewport (``@pytest.mark.syncdp(viewport=...)``), and have their CDP
    traffic kept in :attr:`messages` for the failure artifacts.

    Args:
        browser: the browser to create the context in.
        viewport: ``(width, height)`` for every tab opened here, or ``None``.
        message_limit: how many CDP messages :attr:`messages` keeps.

    Attributes:
        browser: the :class:`~syncdp.Browser` the context lives in.
        id: the ``browserContextId`` (for ``browser.new_tab(..., browser_context_id=...)``).
        messages: the :class:`~syncdp.pytest_plugin.messages.CdpMessageLog` of its tabs.
    """

    def __init__(
        self,
        browser: "Browser",
        *,
        viewport: Optional[Tuple[int, int]] = None,
        message_limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.browser = browser
        self.viewport = viewport
        self.messages = CdpMessageLog(message_limit)
        self.id = browser.create_browser_context()
        self._tabs: Dict[str, "Tab"] = {}
        self._sends: Dict[str, Callable[..., Dict[str, Any]]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return "<BrowserContext %s, %d tab(s) opened here>" % (self.id, len(self._tabs))

    # -- tabs -------------------------------------------------------------------------------

    def new_tab(self, url: Optional[str] = None) -> "Tab":
        """Open a tab in this context (``about:blank`` by default, not waiting for ``url``).

        Raises:
            SyncdpError: the context was closed.
        """
        if self._closed:
            raise SyncdpError("the browser context %s is closed" % self.id)
        tab = self.browser.new_tab(url, browser_context_id=self.id)
        self._watch(tab)
        if self.viewport is not None:
            width, height = self.viewport
            tab.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        return tab

    def _watch(self, tab: "Tab") -> None:
        """Keep ``tab``'s commands and events in :attr:`messages`."""
        target_id = tab.target_id
        self._tabs[target_id] = tab
        log = self.messages
        connection = tab.connection
        send = connection.send
        self._sends[target_id] = send

        def recording_send(
            method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = 10
        ) -> Dict[str, Any]:
            log.command(target_id, method, params)
            try:
                result = send(method, params, timeout=timeout)
            except Exception as exc:
                log.failure(target_id, method, exc)
                raise
            log.answer(target_id, method, result)
            return result

        recording_send.__doc__ = send.__doc__
        # The connection has no hook for the commands it sends yet (a recording transport
        # comes with record/replay), and every Tab and Element method sends through its
        # endpoint's ``send``: shadowing it on this tab's own endpoint records them all
        # without touching a class.
        connection.send = recording_send  # type: ignore[method-assign]

        def on_event(event: Dict[str, Any]) -> None:
            log.event(target_id, event)

        tab.on("*", on_event)  # every event of the tab, in arrival order

    def _page_target_ids(self) -> List[Tuple[str, str]]:
        """(target id, url) of every open page of this context, in the browser's order."""
        infos = self.browser.send("Target.getTargets", timeout=ARTIFACT_TIMEOUT)["targetInfos"]
        return [
            (str(info["targetId"]), str(info.get("url", "")))
            for info in infos
            if info.get("type") == "page" and info.get("browserContextId") == self.id
        ]

    def pages(self) -> List["Tab"]:
        """Every open tab of this context: those opened here and those its pages opened."""
        ids = [target_id for target_id, _ in self._page_target_ids()]
        if any(target_id not in self._tabs for target_id in ids):
            # A popup or a tab opened by the test through the browser: attach to it.
            for tab in self.browser.get_opened_tabs():
                if tab.target_id in ids and tab.target_id not in self._tabs:
                    self._tabs[tab.target_id] = tab
        return [self._tabs[target_id] for target_id in ids if target_id in self._tabs]

    # -- cookies ----------------------------------------------------------------------------

    def get_cookies(self) -> List[Dict[str, Any]]:
        """Every cookie of this context."""
        return self.browser.get_cookies(browser_context_id=self.id)

    def set_cookies(self, cookies: Sequence[Dict[str, Any]]) -> None:
        """Set cookies in this context (CDP ``CookieParam`` dicts)."""
        self.browser.set_cookies(cookies, browser_context_id=self.id)

    # -- failure artifacts ------------------------------------------------------------------

    def _screenshot(self, tab: "Tab", path: Path) -> None:
        # The tab's own send, not the recording one: the log stays as the test left it.
        send: Callable[..., Dict[str, Any]] = self._sends.get(tab.target_id) or tab.send
        data = send("Page.captureScreenshot", {"format": "png"}, timeout=ARTIFACT_TIMEOUT)["data"]
        path.write_bytes(base64.b64decode(data))

    def save_artifacts(self, directory: Path) -> List[str]:
        """Save a screenshot of every open tab and the CDP message log into ``directory``.

        ``directory`` is emptied first. Never raises for a tab that cannot be captured (a
        crashed page, a dialog): the returned lines say so instead.

        Returns:
            One line per file (or failure), for the test's report.
        """
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        lines = []
        log_path = directory / "cdp-messages.jsonl"
        count = self.messages.write(log_path)
        lines.append("%s  (the last %d of %d CDP messages, redacted)"
                     % (log_path, count, self.messages.total))
        try:
            pages = self._page_target_ids()
            tabs = self.pages()
        except (SyncdpError, OSError) as exc:
            lines.append("no screenshots: listing the tabs failed: %s" % exc)
            return lines
        urls = dict(pages)
        for number, tab in enumerate(tabs, 1):
            path = directory / ("tab-%d.png" % number)
            try:
                self._screenshot(tab, path)
            except (SyncdpError, OSError) as exc:
                lines.append("%s  not saved: %s" % (path.name, exc))
            else:
                lines.append("%s  (%s)" % (path, urls.get(tab.target_id, "")))
        return lines

    # -- end --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every tab of the context and dispose of it. Idempotent; never raises for a
        browser that is gone already (logged at DEBUG)."""
        if self._closed:
            return
        self._closed = True
        # Tabs first, each by its own close(): with the "sockets" transport a tab's socket
        # dropped by the context's disposal would look like a connection loss.
        for tab in list(self._tabs.values()):
            try:
                tab.close()
            except (SyncdpError, OSError) as exc:
                logger.debug("closing %r: %s", tab, exc)
        self._tabs.clear()
        self._sends.clear()
        try:
            self.browser.delete_browser_context(self.id)  # and the tabs its pages opened
        except (SyncdpError, OSError) as exc:
            logger.debug("disposing of browser context %s: %s", self.id, exc)
