"""Arbitrary CDP commands through ConnectionHandler, and ``get_html`` without a Tab.

Mirrors pydoll's design document, "Advanced Usage > Custom Command Execution": ``custom_cdp_command``
builds the command dict and returns the full response; ``get_html`` reads
``document.documentElement.outerHTML`` with ``Runtime.evaluate``.

About the design document's ``"id": random.randint(1, 10000)``: syncdp's handler assigns every
command's id itself (under a lock), so two commands in flight can never share an id, and it
never modifies the caller's dict. An id in the dict is accepted and replaced; the function
below keeps the design document's line to show that.

Run: ``python examples/custom_command.py``
"""

from __future__ import annotations

import logging
import random
from typing import Any, Dict, Optional

from _pages import navigate, serve

from syncdp import Chrome, ConnectionHandler


def custom_cdp_command(
    connection: ConnectionHandler, method: str, params: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    command_id = random.randint(1, 10000)  # harmless: replaced by the handler's own id
    command = {"id": command_id, "method": method, "params": params or {}}
    response = connection.execute_command(command)
    print("  %s: sent with id %d, answered as id %d" % (method, command_id, response["id"]))
    return response


# Example: get the document's HTML without using the Tab class
def get_html(connection: ConnectionHandler) -> str:
    result = custom_cdp_command(
        connection,
        "Runtime.evaluate",
        {"expression": "document.documentElement.outerHTML"},
    )
    return str(result["result"]["result"]["value"])


def main() -> None:
    with serve("alpha") as site, Chrome() as browser:
        port = browser.process.port

        print("browser-level connection:")
        with ConnectionHandler(port) as connection:
            version = custom_cdp_command(connection, "Browser.getVersion")
            print("  product: %s" % version["result"]["product"])
            targets = custom_cdp_command(connection, "Target.getTargets")
            pages = [t for t in targets["result"]["targetInfos"] if t["type"] == "page"]
            print("  open pages: %d" % len(pages))
            page_id = pages[0]["targetId"]

        print("page-level connection:")
        with ConnectionHandler(port, page_id=page_id) as connection:
            navigate(connection, site.url("/"))
            html = get_html(connection)
            print("  got %d characters of HTML" % len(html))
            for line in html.splitlines():
                if "<title>" in line or 'name="description"' in line:
                    print("  %s" % line.strip())
            # An unknown method is answered with an error inside the full response.
            response = custom_cdp_command(connection, "DOM.noSuchCommand")
            print("  error: %s" % response["error"]["message"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
