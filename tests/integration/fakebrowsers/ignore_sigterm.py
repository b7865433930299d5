#!/usr/bin/env python3
"""Fake browser: ignores SIGTERM and forks a grandchild that sleeps (and ignores it too).

Writes "<own pid> <grandchild pid>" to <user-data-dir>/fake-pids, then publishes a
DevToolsActivePort so that start() succeeds. Only a SIGKILL of the process group ends both.
"""

import os
import signal
import sys
import time

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
    fh.write("1\n/devtools/browser/fake-ignore-sigterm\n")
os.replace(tmp, os.path.join(profile, "DevToolsActivePort"))
while True:
    time.sleep(60)
