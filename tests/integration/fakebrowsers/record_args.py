#!/usr/bin/env python3
"""Fake browser: records its argv and environment, then publishes an endpoint and waits.

Writes {"argv": [...], "env": {...}} to <user-data-dir>/fake-args.json.
"""

import json
import os
import sys
import time

profile = next(arg.split("=", 1)[1] for arg in sys.argv[1:]
               if arg.startswith("--user-data-dir="))
with open(os.path.join(profile, "fake-args.json"), "w") as fh:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, fh)
with open(os.path.join(profile, "DevToolsActivePort"), "w") as fh:
    fh.write("2\n/devtools/browser/fake-record-args\n")
time.sleep(120)
