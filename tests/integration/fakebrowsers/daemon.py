#!/usr/bin/env python3
"""Fake browser with a double-forked daemon in its own session (like Chromium's crashpad).

Forks a middle process that leaves the browser's session (setsid) and forks a daemon; both
sleep forever holding the browser's stderr, outside its process group. When the browser
dies the middle one is re-parented to the watchdog (a subreaper); the daemon only once the
middle one is killed. Writes "<middle pid> <daemon pid>" to <user-data-dir>/fake-pids,
then publishes a DevToolsActivePort.
"""

import os
import sys
import time

profile = next(arg.split("=", 1)[1] for arg in sys.argv[1:]
               if arg.startswith("--user-data-dir="))
read_end, write_end = os.pipe()
middle = os.fork()
if middle == 0:
    os.setsid()
    daemon = os.fork()
    if daemon == 0:
        while True:
            time.sleep(60)
    os.write(write_end, f"{os.getpid()} {daemon}\n".encode())
    while True:
        time.sleep(60)
os.close(write_end)
with os.fdopen(read_end) as fh:
    pids = fh.readline()
with open(os.path.join(profile, "fake-pids"), "w") as fh:
    fh.write(pids)
tmp = os.path.join(profile, "DevToolsActivePort.tmp")
with open(tmp, "w") as fh:
    fh.write("1\n/devtools/browser/fake-late-daemon\n")
os.replace(tmp, os.path.join(profile, "DevToolsActivePort"))
while True:
    time.sleep(60)
