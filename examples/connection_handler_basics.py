"""ConnectionHandler by hand: construction, the command execution flow, timeouts.

Mirrors pydoll's design document, "Connection Handler Implementation > Class Initialization" and
"Command Execution Flow" sections (including the "Command Timeout" warning):

* ``ConnectionHandler(connection_port, page_id='browser', ws_address_resolver=...,
  ws_connector=...)``: the same four parameters as pydoll's;
* ``execute_command({"method": ...}, timeout=10)`` blocks and returns the *full* response,
  ``{"id": ..., "result": {...}}`` or ``{"id": ..., "error": {...}}``;
* a command that gets no answer in time raises ``CommandTimeoutError``, which is a
  ``TimeoutError`` (pydoll's ``asyncio.TimeoutError``), and the connection stays usable.

A headless Chromium is launched for the demo; the raw connections use its DevTools port,
``browser.process.port``, exactly like pydoll's ``ConnectionHandler(9222)``.

Run: ``python examples/connection_handler_basics.py``
"""

from __future__ import annotations

import logging
import time

from _pages import navigate, serve

from syncdp import Chrome, ConnectionHandler, InvalidCommand
from syncdp.discovery import get_browser_ws_address


def logging_resolver(port: int) -> str:
    """A ``ws_address_resolver``: port -> browser websocket URL (here: the default + a print)."""
    url = str(get_browser_ws_address(port))
    print("  ws_address_resolver(%d) -> %s" % (port, url.split("?")[0]))
    return url


def command_execution_flow(port: int) -> None:
    print("== class initialization and command execution flow ==")
    connection = ConnectionHandler(
        port,  # connection_port: where the browser's CDP endpoint listens
        page_id="browser",  # the browser-level endpoint (a target id: that target)
        ws_address_resolver=logging_resolver,
        # ws_connector: left at its default, syncdp.transports.websocket.connect_websocket
    )
    try:
        print("  connected before the first command: %s" % connection.connected)
        # 1. ensure a connection (lazy: opened now)  2. register a Future for the answer
        # 3. send  4. block on the Future  5. return the response.
        response = connection.execute_command({"method": "Browser.getVersion"}, timeout=10)
        print("  connected after it: %s" % connection.connected)
        print("  full response keys: %s" % sorted(response))
        print("  response id: %s (assigned by the handler)" % response["id"])
        print("  product: %s" % response["result"]["product"])

        # A CDP error is part of the full response, not an exception...
        response = connection.execute_command({"method": "Nope.notAMethod"})
        error = response["error"]
        print("  error response: code %s, %r" % (error["code"], error["message"]))

        # ...while a malformed command is refused before anything is sent (pydoll's
        # "Command must be a dictionary" check).
        try:
            connection.execute_command("Browser.getVersion")  # type: ignore[arg-type, unused-ignore]
        except InvalidCommand as exc:
            print("  InvalidCommand: %s" % exc)
    finally:
        connection.close()


def timeout_handling(port: int, page_id: str, url: str) -> None:
    print("== timeout handling ==")
    with ConnectionHandler(port, page_id=page_id) as page:
        navigate(page, url)
        # A promise that settles after 3 s, awaited by the browser: no answer for 3 s.
        slow = {
            "method": "Runtime.evaluate",
            "params": {
                "expression": "new Promise(r => setTimeout(() => r('late'), 3000))",
                "awaitPromise": True,
            },
        }
        started = time.monotonic()
        try:
            page.execute_command(slow, timeout=0.5)
        except TimeoutError as exc:  # syncdp.CommandTimeoutError is a TimeoutError
            print(
                "  TimeoutError after %.1f s: %s (%s)"
                % (time.monotonic() - started, exc, type(exc).__name__)
            )
        # The pending command was forgotten (its late answer is dropped); the connection
        # goes on working.
        response = page.execute_command(
            {"method": "Runtime.evaluate", "params": {"expression": "document.title"}}
        )
        print("  still usable: document.title = %r" % response["result"]["result"]["value"])
        print("  pending commands left: %d" % page.pending_commands)


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        port = browser.process.port
        print("Chromium DevTools port: %d" % port)
        command_execution_flow(port)
        timeout_handling(port, browser.get_page().target_id, site.url("/"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
