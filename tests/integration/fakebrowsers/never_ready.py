#!/usr/bin/env python3
"""Fake browser: runs but never writes DevToolsActivePort nor a "DevTools listening" line."""

import os
import sys
import time

sys.stderr.write(f"fakebrowser: pid {os.getpid()}, never ready\n")
sys.stderr.flush()
time.sleep(120)
