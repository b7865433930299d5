#!/usr/bin/env python3
"""Fake browser: announces its endpoint on stderr only (no DevToolsActivePort file)."""

import sys
import time

sys.stderr.write("fakebrowser: starting\n")
sys.stderr.write("\nDevTools listening on ws://127.0.0.1:45678/devtools/browser/fake-stderr-id\n")
sys.stderr.flush()
time.sleep(120)
