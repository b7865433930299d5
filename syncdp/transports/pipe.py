"""The pipe transport: CDP over ``--remote-debugging-pipe`` (what ``Chrome(pipe=True)`` uses).

The browser reads commands from its fd 3 and writes answers and events to its fd 4, each
message a JSON text ended by a NUL byte (puppeteer's ``PipeTransport.ts``, chromedp's
``allocate.go``). No port is opened, no HTTP, no frame masking, and the browser exits once
the pipe into it closes.

:class:`PipeTransport` holds this process's two ends: it writes each message with one
``os.write`` loop under a send lock, and its ``receive`` waits for the pipe with ``poll``, reads
what is there (up to 1 MiB) into one reused buffer and splits it on NUL (a partial tail waits
for the next read), so one read hands the reader thread a batch. The browser writes each
message's NUL with a ``write()`` of its own, so a read often ends just before it: a tail that
is one whole JSON object is delivered at once, already parsed
(:class:`~syncdp.transports.base.Parsed`), rather than a wake-up later.
A closed pipe cannot be opened again: :class:`PipeOpener` hands the transport out once and
refuses a reconnection with :class:`~syncdp.exceptions.PipeClosedError`.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import List, Optional, Union, cast

from syncdp.exceptions import PipeClosedError
from syncdp.transports.base import TransportClosed, parse_whole_object

__all__ = ["PipeOpener", "PipeTransport", "REOPEN_REFUSED"]

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_BUSY = 32 * 1024  # a read at least this large: read again at once, without polling first
# A tail without its NUL up to this size is checked for being a whole message (the browser
# writes messages in 64 KiB pieces: a larger one comes in several reads anyway).
_WHOLE = 64 * 1024

REOPEN_REFUSED = "a pipe cannot be re-opened: start a new Chrome"
"""The message of the :class:`~syncdp.exceptions.PipeClosedError` a reconnection raises."""


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class PipeTransport:
    """The wire over a pair of pipe fds, NUL-terminated JSON messages both ways.

    ``send`` may be called from any thread (a lock keeps whole messages together);
    ``receive`` only from the connection's reader thread. ``abort`` wakes a blocked
    ``receive`` through a self-pipe (closing an fd does not wake a thread reading it).

    Args:
        read_fd: this process's read end of the pipe out of the browser (its fd 4).
        write_fd: this process's write end of the pipe into the browser (its fd 3).
        label: the name logs and ``ConnectionHandler.ws_url`` show.

    The transport owns both fds from now on: they are closed when the wire ends.
    """

    def __init__(self, read_fd: int, write_fd: int, label: str = "pipe") -> None:
        self.label = label
        self._read_fd = read_fd
        self._write_fd = write_fd
        # Poll (on the pipe and on the self-pipe that abort() writes to), then one non-blocking
        # read per batch; while reads come back large, read again without polling.
        os.set_blocking(read_fd, False)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._poller = select.poll()
        self._poller.register(read_fd, select.POLLIN)
        self._poller.register(self._wake_read, select.POLLIN)
        self._partial: List[bytes] = []  # the start of a message whose NUL has not come yet
        self._busy = False  # the last read was large: read again before polling
        self._view = memoryview(bytearray(_CHUNK))  # every read lands here
        self._send_lock = threading.Lock()
        # Guards the self-pipe's fds: abort() may run in any thread, after the reader ended.
        self._wake_lock = threading.Lock()
        self._ended: Optional[TransportClosed] = None  # raised by every later receive()

    def __repr__(self) -> str:
        return "<PipeTransport %s read_fd=%d write_fd=%d>" % (self.label, self._read_fd, self._write_fd)

    def send(self, message: str) -> None:
        """Write one message and its NUL (any thread).

        Raises:
            TransportClosed: the pipe into the browser is closed (by :meth:`close`).
            OSError: the write failed (``BrokenPipeError``: the browser has exited).
        """
        data = message.encode("utf-8") + b"\0"
        with self._send_lock:
            fd = self._write_fd
            if fd < 0:
                raise TransportClosed(None, None, "the pipe into the browser is closed")
            written = os.write(fd, data)
            if written < len(data):  # a message larger than the pipe's buffer
                view = memoryview(data)
                while written < len(data):
                    written += os.write(fd, view[written:])

    def receive(self) -> List[Union[str, bytes]]:
        """Block for the next messages: every whole one the next read brings in.

        Raises:
            TransportClosed: the browser closed its end (it exited), or :meth:`abort` was
                called; every later call raises it too. The fds are released then.
        """
        if self._ended is not None:
            raise self._ended
        read_fd = self._read_fd
        partial = self._partial
        view = self._view
        buffers = [view]
        readv = os.readv
        while True:
            if not self._busy:
                # Wait first: a read that finds the pipe empty costs a syscall, an exception,
                # and a GIL release while the caller that was just answered wakes up.
                self._wait_readable()
            try:
                # Into one reused buffer: os.read would allocate (mmap) 1 MiB per read.
                size = readv(read_fd, buffers)
            except BlockingIOError:
                self._busy = False
                continue
            except OSError as exc:
                raise self._end("the pipe from the browser failed (%s)" % exc) from exc
            # A large read (a flood) means more is likely waiting: read again before polling.
            self._busy = size >= _BUSY
            if not size:
                if partial:
                    dropped = sum(map(len, partial))
                    logger.warning("the pipe ended inside a message (%d bytes dropped)", dropped)
                raise self._end("the browser closed its end of the pipe (it exited)")
            parts = self._split(view[:size].tobytes())
            if parts:
                return parts

    def _split(self, chunk: bytes) -> List[Union[str, bytes]]:
        """The whole messages ``chunk`` completes; keep what is left for the next read."""
        partial = self._partial
        if b"\0" not in chunk and (partial or len(chunk) > _WHOLE):
            partial.append(chunk)  # joined once, when its NUL comes: no quadratic copy
            return []
        if partial:
            partial.append(chunk)
            chunk = b"".join(partial)
            partial.clear()
        split = chunk.split(b"\0")
        tail = split.pop()  # after the last NUL: the start of the next message, or all of it
        parts = cast(List[Union[str, bytes]], split)
        if tail:
            # Often all of it: the browser writes each message and then its NUL with a
            # write() of its own, and the reader may wake in between (it may even preempt the
            # browser's writer thread). A whole object is delivered now, not a wake-up later;
            # its NUL then comes as an empty message, skipped below.
            whole = parse_whole_object(tail) if len(tail) <= _WHOLE else None
            if whole is None:
                partial.append(tail)
            else:
                parts.append(whole)
        if b"" in parts:
            parts = [part for part in parts if part]
        return parts

    def _wait_readable(self) -> None:
        for fd, _events in self._poller.poll():
            if fd == self._wake_read:
                raise self._end("the pipe transport was aborted")

    def _end(self, detail: str) -> TransportClosed:
        """Remember how the wire ended and release every fd (reader thread only)."""
        error = TransportClosed(None, None, detail)
        self._ended = error
        _close_fd(self._read_fd)
        with self._send_lock:
            write_fd, self._write_fd = self._write_fd, -1
        if write_fd >= 0:
            _close_fd(write_fd)
        with self._wake_lock:
            wake_read, wake_write = self._wake_read, self._wake_write
            self._wake_read = self._wake_write = -1
        _close_fd(wake_read)
        _close_fd(wake_write)
        return error

    def close(self) -> None:
        """Close the pipe into the browser: it exits, its end closes, ``receive`` raises."""
        with self._send_lock:
            fd, self._write_fd = self._write_fd, -1
        if fd >= 0:
            _close_fd(fd)

    def abort(self) -> None:
        """Wake a blocked ``receive`` at once (any thread, idempotent)."""
        with self._wake_lock:
            if self._wake_write < 0:
                return  # the reader has ended already
            try:
                os.write(self._wake_write, b"!")
            except OSError:  # full (woken already)
                pass


class PipeOpener:
    """The ``open_transport`` of a launched browser's pipe: opens it once.

    The connection calls it to connect and again to reconnect; a pipe cannot be re-opened,
    so the second call raises :class:`~syncdp.exceptions.PipeClosedError`.

    Args:
        read_fd: this process's read end of the pipe out of the browser.
        write_fd: this process's write end of the pipe into the browser.
        label: the transport's name in logs.
    """

    def __init__(self, read_fd: int, write_fd: int, label: str = "pipe") -> None:
        self._fds: Optional[tuple[int, int]] = (read_fd, write_fd)
        self._label = label
        self._lock = threading.Lock()
        self._pid = os.getpid()  # the fds are this process's: a forked child must not use them

    def __call__(self) -> PipeTransport:
        """The transport on the pipe (it owns the fds from then on).

        Raises:
            PipeClosedError: called again (a reconnection), after :meth:`discard`, or in a
                forked child of the process that launched the browser.
        """
        if os.getpid() != self._pid:
            # The parent's pipe, inherited across fork(): writing on it would interleave the
            # child's commands with the parent's on the browser's one pipe.
            raise PipeClosedError(
                "a browser pipe cannot be used by a forked process: it belongs to process %d "
                "(this is %d); start a Chrome in this process, or launch the browser with a "
                "port (pipe=False) and connect() to it" % (self._pid, os.getpid())
            )
        with self._lock:
            fds, self._fds = self._fds, None
        if fds is None:
            raise PipeClosedError(REOPEN_REFUSED)
        return PipeTransport(fds[0], fds[1], self._label)

    def discard(self) -> None:
        """Close the fds if no transport took them (the browser was never connected)."""
        with self._lock:
            fds, self._fds = self._fds, None
        if fds is not None:
            _close_fd(fds[0])
            _close_fd(fds[1])
