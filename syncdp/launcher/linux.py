"""Linux-only process facts from ``/proc`` (elsewhere every answer is "unknown": False)."""

from __future__ import annotations

import os
import signal

__all__ = ["is_dying", "start_time"]

_PROC_STATUS = os.path.isfile("/proc/self/status")  # Linux procfs
_PF_EXITING = 0x4  # task flag: in do_exit()
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)


def is_dying(pid: int | None) -> bool:
    """Whether the kernel is ending (or has ended) ``pid``: a zombie, exiting, or with a
    SIGKILL pending. False when unknown (no procfs). Only for our unreaped browser, whose
    pid cannot have been reused."""
    if pid is None or not _PROC_STATUS:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X") or int(fields[6]) & _PF_EXITING:
            return True
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith((b"SigPnd:", b"ShdPnd:")) and int(line.split()[1], 16) & _SIGKILL_BIT:
                    return True
    except FileNotFoundError:
        return True  # reaped
    except (OSError, ValueError, IndexError):
        return False
    return False


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None (no such process, no procfs).

    With the pid, it names one process for good: a recycled pid has another start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
