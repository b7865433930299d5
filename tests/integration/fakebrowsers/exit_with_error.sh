#!/bin/sh
# Fake browser: complains on stderr and exits 1 before publishing any DevTools endpoint.
echo "fakebrowser: simulated fatal startup error (args: $#)" >&2
exit 1
