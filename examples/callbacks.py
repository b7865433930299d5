"""Event callbacks on a raw page connection: register, remove, clear, temporary, sync + async.

Mirrors pydoll's design document, "Event Processing System" sections:

* "Callback Registration": ``register_callback`` returns an id for ``remove_callback``;
  ``clear_callbacks`` removes them all;
* "Temporary Callbacks": a ``Page.javascriptDialogOpening`` callback registered with
  ``temporary=True`` answers one dialog (``Page.handleJavaScriptDialog``) and is gone;
* "Asynchronous Callback Execution": plain functions and ``async def`` coroutine functions
  are registered the same way;
* "Sequential Execution Model": for one event, callbacks run one at a time in registration
  order; a coroutine callback is run to completion (its ``await asyncio.sleep(0.1)``
  included) before the next callback starts.

In syncdp callbacks run on the connection's dispatcher thread, which is why a callback may
itself call ``execute_command`` (the dialog handler below does).

Run: ``python examples/callbacks.py``
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, List

from _pages import navigate, say, serve

from syncdp import Chrome, ConnectionHandler

Event = Dict[str, Any]


def registration(connection: ConnectionHandler, url: str) -> None:
    say("== register_callback / remove_callback ==")
    loads: List[str] = []
    first_load = threading.Event()

    def handle_page_load(event: Event) -> None:
        loads.append(event["method"])
        timestamp = event["params"]["timestamp"]
        say("  handle_page_load: %s (timestamp %.3f)" % (event["method"], timestamp))
        first_load.set()

    callback_id = connection.register_callback("Page.loadEventFired", handle_page_load)
    say("  registered callback id %d" % callback_id)
    navigate(connection, url)
    # navigate() returns when its own waiter saw the event; the callback runs on the
    # dispatcher thread, possibly a moment later.
    if not first_load.wait(10):
        raise RuntimeError("the load callback did not run")

    removed = connection.remove_callback(callback_id)
    say("  remove_callback(%d) -> %s" % (callback_id, removed))
    removed = connection.remove_callback(callback_id)
    say("  remove_callback(%d) again -> %s" % (callback_id, removed))
    navigate(connection, url)  # loads again; the callback is gone
    say("  load callbacks run: %d (the second load was not seen)" % len(loads))


def temporary_dialog_callback(connection: ConnectionHandler) -> None:
    say("== temporary callback: answer one dialog ==")
    handled: List[str] = []

    def handle_dialog(event: Event) -> None:
        message = event["params"]["message"]
        handled.append(message)
        say("  handle_dialog: %s %r -> accepting" % (event["params"]["type"], message))
        # A callback may send commands: it runs on the dispatcher, not on the reader.
        connection.execute_command(
            {"method": "Page.handleJavaScriptDialog", "params": {"accept": True}}
        )

    connection.register_callback("Page.javascriptDialogOpening", handle_dialog, temporary=True)

    # alert() blocks the page until the dialog is answered: this evaluate returns only
    # because the temporary callback answered it.
    connection.send("Runtime.evaluate", {"expression": "alert('first dialog')"})
    say("  alert('first dialog') returned")

    # A second dialog: the temporary callback fired once and was removed, so this one stays
    # open (connection.dialog holds it) until answered by hand.
    with connection.expect_event("Page.javascriptDialogOpening"):
        connection.send(
            "Runtime.evaluate", {"expression": "setTimeout(() => alert('second dialog'), 0)"}
        )
    message = connection.dialog["params"]["message"]
    say("  second dialog open: %r; handled by the callback: %d" % (message, len(handled)))
    with connection.expect_event("Page.javascriptDialogClosed"):
        connection.send("Page.handleJavaScriptDialog", {"accept": True})
    say("  second dialog answered by hand; connection.dialog is now %r" % (connection.dialog,))


def sync_and_async(connection: ConnectionHandler, url: str) -> None:
    say("== sync and async callbacks, sequential order ==")
    order: List[str] = []
    done = threading.Event()

    # the design document's two callbacks, registered the same way.
    def synchronous_callback(event: Event) -> None:
        say("  Event received: %s" % event["method"])

    async def asynchronous_callback(event: Event) -> None:
        await asyncio.sleep(0.1)  # Perform some async operation
        say("  Event processed asynchronously: %s" % event["method"])

    connection.register_callback("Network.requestWillBeSent", synchronous_callback)
    connection.register_callback("Network.responseReceived", asynchronous_callback)

    # Three callbacks for one event: the async one is awaited before the next one runs.
    def first(event: Event) -> None:
        order.append("first (sync)")

    async def second(event: Event) -> None:
        order.append("second (async) started")
        await asyncio.sleep(0.1)
        order.append("second (async) finished")

    def third(event: Event) -> None:
        order.append("third (sync)")
        done.set()

    for callback in (first, second, third):
        connection.register_callback("Page.loadEventFired", callback, temporary=True)

    connection.send("Network.enable")
    navigate(connection, url)
    if not done.wait(10):
        raise RuntimeError("the load callbacks did not all run")
    say("  execution order for one Page.loadEventFired:")
    for step in order:
        say("    %s" % step)


def clearing(connection: ConnectionHandler, url: str) -> None:
    say("== clear_callbacks ==")
    seen: List[str] = []
    connection.register_callback("Page.loadEventFired", lambda event: seen.append("load"))
    connection.register_callback("Page.domContentEventFired", lambda event: seen.append("dcl"))
    connection.clear_callbacks()
    navigate(connection, url)
    say("  callbacks run after clear_callbacks(): %d" % len(seen))


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        port = browser.process.port
        page_id = browser.get_page().target_id
        with ConnectionHandler(port, page_id=page_id) as connection:
            registration(connection, site.url("/"))
            temporary_dialog_callback(connection)
            sync_and_async(connection, site.url("/about.html"))
            clearing(connection, site.url("/"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
