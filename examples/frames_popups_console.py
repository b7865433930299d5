"""Frames, popups, console messages, history and waiting, on a local page.

Runs offline: a LocalServer serves an outer page on 127.0.0.1 with a same-process iframe and a
cross-site one (on localhost: its own renderer process), and a link that opens a popup. Typed:
``mypy --strict examples/frames_popups_console.py`` checks every call below.
"""

from __future__ import annotations

from typing import List, Optional

from syncdp import Chrome, ConsoleMessage, Frame, JavaScriptError, Tab
from syncdp.localserver import LocalServer

INNER = """<!doctype html><title>inner</title>
<input id="name"><button id="greet" onclick="console.log('hello', document.getElementById('name').value, {n: 1})">greet</button>"""
OUTER = """<!doctype html><title>outer</title>
<a id="more" href="/more" target="_blank">more</a>
<iframe name="local" src="/inner"></iframe>
<iframe name="remote" id="remote"></iframe>
<script>document.getElementById("remote").src = "http://localhost:" + location.port + "/inner";
        setTimeout(() => { throw new Error("a bug in the page"); }, 100);</script>"""
MORE = "<!doctype html><title>more</title><p id='late'></p>" \
       "<script>setTimeout(() => { late.textContent = 'arrived'; window.ready = true; }, 200)</script>"


def frame_named(tab: Tab, name: str) -> Frame:
    """Wait (by waiting on the page) until the frame is listed with its document."""
    tab.wait_for_function("document.querySelectorAll('iframe').length === 2", timeout=10)
    for _ in range(200):
        frame: Optional[Frame] = tab.frame(name=name)
        if frame is not None and frame.url.startswith("http"):
            if frame.execute_script("document.readyState") == "complete":
                return frame
        tab.wait_for_function("true", polling=50, timeout=5)  # a short pause, in the page
    raise SystemExit("frame %r never loaded" % name)


def main() -> None:
    with LocalServer({"/": OUTER, "/inner": INNER, "/more": MORE}) as site, Chrome() as browser:
        tab: Tab = browser.new_tab()
        messages: List[ConsoleMessage] = []
        errors: List[JavaScriptError] = []
        tab.on_console(messages.append)
        tab.on_page_error(errors.append)
        tab.go_to(site.url("/"))
        tab.wait_for_load_state("load")

        for name in ("local", "remote"):
            frame = frame_named(tab, name)
            frame.query("#name").type_text(name)
            frame.query("#greet").click()
            kind = "out-of-process" if frame.session is not None else "same-process"
            print("frame %-6s %-14s %s" % (name, kind, frame.url))
        tab.wait_for_function("true", timeout=5)
        print("frames:", [(f.name, f.parent is not None) for f in tab.frames])
        # The tab's console: its main frame and same-process frames (an out-of-process
        # frame logs to its own target: frame.session).
        print("console:", [(m.type, m.args) for m in tab.console_messages if m.args[:1] == ["hello"]])
        print("page errors:", [e.message for e in errors])

        with tab.expect_popup(timeout=10) as popup:
            tab.query("#more").click()
        more: Tab = popup.value
        print("popup:", more.wait_for_selector("#late", timeout=10) is not None,
              more.wait_for_function("window.ready", timeout=10))
        print("late text:", more.query("#late").text)
        more.close()

        with browser.expect_tab(timeout=10) as created:
            browser.new_tab(site.url("/more"))
        created.value.close()

        tab.go_to(site.url("/more"))
        print("back:", tab.back(), tab.title, "forward:", tab.forward(), tab.title)
        tab.close()


if __name__ == "__main__":
    main()
