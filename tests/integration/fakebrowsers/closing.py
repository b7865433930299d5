#!/usr/bin/env python3
"""Fake browser already on its way out (as after Browser.close): ignores SIGTERM, forks a
lingering grandchild (a renderer), publishes its endpoint, then "writes its profile" for
CLOSE_SECONDS and exits 0 by itself.

Writes "<own pid> <grandchild pid>" to <user-data-dir>/fake-pids and, just before its own
exit, <user-data-dir>/Cookies (what a signal during the shutdown would have prevented).
"""

import os
import signal
import sys
import time

CLOSE_SECONDS = 2.0

signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the forked grandchild
profile = next(arg.split("=", 1)[1] for arg in sys.argv[1:]
               if arg.startswith("--user-data-dir="))
grandchild = os.fork()
if grandchild == 0:
    while True:
        time.sleep(60)
with open(os.path.join(profile, "fake-pids"), "w") as fh:
    fh.write(f"{os.getpid()} {grandchild}\n")
tmp = os.path.join(profile, "DevToolsActivePort.tmp")
with open(tmp, "w") as fh:
    fh.write("1\n/devtools/browser/fake-closing\n")
os.replace(tmp, os.path.join(profile, "DevToolsActivePort"))
time.sleep(CLOSE_SECONDS)
with open(os.path.join(profile, "Cookies"), "w") as fh:
    fh.write("session=kept\n")
sys.exit(0)
