"""The tasks: a PDF and a screenshot of a page, each rendered in a tab of its own."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Dict, Iterator, Optional
from urllib.parse import quote

from celery import Task

from celery_tasks.app import app
from celery_tasks.browser import get_browser
from syncdp import SyncdpConnectionError, SyncdpError, Tab, TargetCrashedError

__all__ = ["render_pdf", "take_screenshot", "RETRY_ON"]

logger = logging.getLogger(__name__)

# Errors that mean "the browser went away" (crash, OOM kill): the retry relaunches it.
# A NavigationError (bad URL) or a timeout is the page's fault and is not retried.
RETRY_ON = (SyncdpConnectionError, TargetCrashedError)
RETRY = {
    "autoretry_for": RETRY_ON,
    "retry_kwargs": {"max_retries": 3, "countdown": 0.5},
    "retry_backoff": False,
}


def _url(url: Optional[str], html: Optional[str]) -> str:
    if (url is None) == (html is None):
        raise ValueError("pass exactly one of url= and html=")
    if html is not None:
        return "data:text/html;charset=utf-8," + quote(html)
    assert url is not None
    return url


@contextlib.contextmanager
def _page(task: Task, url: str, timeout: float) -> Iterator[Tab]:
    """A new tab of this process's browser, loaded with ``url``; closed afterwards."""
    browser = get_browser()
    # Visible to the caller as AsyncResult.info while the task runs.
    task.update_state(state="RENDERING", meta=_where(task))
    tab = browser.new_tab()
    try:
        tab.go_to(url, timeout=timeout)
        yield tab
    finally:
        try:
            tab.close()
        except SyncdpError as exc:  # the browser is gone: the task's own error says why
            logger.warning("could not close the tab: %s", exc)


def _where(task: Task) -> Dict[str, Any]:
    return {
        "worker_pid": os.getpid(),
        "browser_pid": get_browser().process.pid,
        "retries": task.request.retries,
    }


@app.task(bind=True, **RETRY)
def render_pdf(
    self: Task,
    url: Optional[str] = None,
    html: Optional[str] = None,
    landscape: bool = False,
    timeout: float = 30.0,
) -> Dict[str, Any]:
    """Render a page (``url``) or a document (``html``) to PDF.

    Returns:
        ``{"data": PDF bytes, "worker_pid", "browser_pid", "retries"}``.
    """
    with _page(self, _url(url, html), timeout) as tab:
        pdf = tab.print_to_pdf(landscape=landscape, timeout=timeout)
        return dict(_where(self), data=bytes(pdf))


@app.task(bind=True, **RETRY)
def take_screenshot(
    self: Task,
    url: Optional[str] = None,
    html: Optional[str] = None,
    full_page: bool = False,
    timeout: float = 30.0,
) -> Dict[str, Any]:
    """Capture a page (``url``) or a document (``html``) as PNG.

    Returns:
        ``{"data": PNG bytes, "worker_pid", "browser_pid", "retries"}``.
    """
    with _page(self, _url(url, html), timeout) as tab:
        png = tab.take_screenshot(full_page=full_page)
        return dict(_where(self), data=bytes(png))
