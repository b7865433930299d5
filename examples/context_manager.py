"""Connection management: ``with ConnectionHandler(...)``, lazy connect, reconnect, ping.

Mirrors pydoll's design document, "Connection Management" sections:

* "Lazy Connection Establishment": constructing the handler opens nothing;
  ``connection.connected`` is False until the first command;
* "Automatic Reconnection": a handler whose websocket is gone opens a new one for the next
  command. Here the socket is closed with ``close()`` (the public way; a dropped network
  link takes the same path) and the next ``execute_command`` reconnects;
  ``connection_count`` counts the websockets opened;
* "Resource Cleanup" / "Context Manager Usage": ``with ConnectionHandler(port, 'browser') as
  connection:`` closes it on leaving the block (the design document's ``async with``), and ``close()``
  is idempotent;
* ``ping()`` from the design document's class diagram: does the browser answer right now?

Run: ``python examples/context_manager.py``
"""

from __future__ import annotations

import logging

from syncdp import Chrome, ConnectionHandler


def main() -> None:
    with Chrome() as browser:
        port = browser.process.port

        with ConnectionHandler(port, "browser") as connection:
            print("lazy connection:")
            print("  connected before any command: %s" % connection.connected)
            version = connection.execute_command({"method": "Browser.getVersion"})
            print("  Browser.getVersion -> %s" % version["result"]["product"])
            print("  connected after the first command: %s (websockets opened: %d)"
                  % (connection.connected, connection.connection_count))
            print("  ping() -> %s" % connection.ping())

            print("reconnection:")
            connection.close()
            print("  after close(): connected=%s" % connection.connected)
            targets = connection.execute_command({"method": "Target.getTargets"})
            print("  Target.getTargets -> %d target(s)" % len(targets["result"]["targetInfos"]))
            print("  reconnected: connected=%s (websockets opened: %d)"
                  % (connection.connected, connection.connection_count))
            print("  ping() -> %s" % connection.ping())

        print("after the with block:")
        print("  connected=%s" % connection.connected)
        connection.close()  # idempotent: closing again is harmless
        print("  close() again: still connected=%s" % connection.connected)

    # The browser is gone now: ping() reports it instead of raising.
    print("after the browser stopped: ping() -> %s" % connection.ping(timeout=2))
    connection.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
