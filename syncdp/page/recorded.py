"""What ``Chrome(record=...)`` and ``Chrome(replay=...)`` need: the browser's connection
recorded into a file, or answered from one with no browser launched.

See :mod:`syncdp.transports.recording` and :mod:`syncdp.transports.replay`.
"""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Union

from syncdp._types import Transport, TransportOpener
from syncdp.exceptions import ConnectionClosedError, InvalidCommand
from syncdp.transports.recording import Recorder
from syncdp.transports.replay import MatchFunction, ReplayTransport, check_replay_options

__all__ = ["MatchFunction", "RecordedRun"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


class RecordedRun:
    """A browser's recording or replay settings, checked; one per :class:`~syncdp.Chrome`.

    Raises:
        InvalidCommand: a bad argument (named), ``record`` and ``replay`` both given, or
            ``tab_mode="sockets"`` (a recording holds one connection: the browser's).
    """

    def __init__(
        self,
        record: Optional[PathLike],
        record_bodies: bool,
        replay: Optional[PathLike],
        replay_speed: Optional[float],
        replay_match: Union[str, MatchFunction],
        tab_mode: str,
    ) -> None:
        if record is not None and replay is not None:
            raise InvalidCommand("record= and replay= exclude each other: give one")
        if replay is not None and (not isinstance(replay, (str, os.PathLike)) or not os.fspath(replay)):
            raise InvalidCommand("replay must be the path of a recording, got %r" % (replay,))
        check_replay_options(replay_speed, replay_match)
        if (record is not None or replay is not None) and tab_mode != "sessions":
            raise InvalidCommand(
                "record= and replay= need tab_mode='sessions' (every tab on the browser's one "
                "connection), got tab_mode=%r" % (tab_mode,)
            )
        self.recorder = Recorder(record, record_bodies=record_bodies) if record is not None else None
        if record is None and record_bodies is not False:
            raise InvalidCommand("record_bodies=%r needs record=" % (record_bodies,))
        self.replay = os.fspath(replay) if replay is not None else None
        self._speed = replay_speed
        self._match = replay_match
        self.transport: Optional[ReplayTransport] = None

    @property
    def active(self) -> bool:
        """Whether anything is recorded or replayed."""
        return self.recorder is not None or self.replay is not None

    def open_replay(self) -> Optional[TransportOpener]:
        """The ``open_transport`` of a replayed browser (``None`` when not replaying): a new
        replay of the recording (read at once), for one connection only.

        Raises:
            InvalidCommand: the file is missing or is not a recording.
        """
        if self.replay is None:
            return None
        path = self.replay
        transport = self.transport = ReplayTransport(path, speed=self._speed, match=self._match)
        used: List[ReplayTransport] = []

        def open_transport() -> Transport:
            if used:  # a recording holds one connection: no automatic reconnection
                raise ConnectionClosedError("the replay of %s has ended" % path)
            used.append(transport)
            return transport

        return open_transport

    def finish(self) -> None:
        """Close the recording file; check a replay sent every recorded command.

        Raises:
            ReplayMismatchError: recorded commands were never sent.
        """
        if self.recorder is not None:
            self.recorder.close()
        transport, self.transport = self.transport, None
        if transport is None:
            return
        transport.finish()
