"""Screenshot and PDF results: plain ``bytes`` that also display themselves in notebooks."""

from __future__ import annotations

import os
from typing import Optional, Union

from syncdp._checks import check_path

__all__ = ["Screenshot", "Pdf"]

PathArg = Union[str, "os.PathLike[str]"]


class Screenshot(bytes):
    """Image bytes (PNG, JPEG or WebP) that Jupyter renders inline.

    It *is* ``bytes``: write it to a file, decode it, compare it, as usual.
    """

    @property
    def format(self) -> str:  # noqa: A003 - mirrors the capture option's name
        """``png``, ``jpeg``, ``webp`` or ``unknown``, from the magic number."""
        if self.startswith(b"\x89PNG\r\n\x1a\n"):
            return "png"
        if self.startswith(b"\xff\xd8"):
            return "jpeg"
        if self[:4] == b"RIFF" and self[8:12] == b"WEBP":
            return "webp"
        return "unknown"

    def _repr_png_(self) -> Optional[bytes]:
        return bytes(self) if self.format == "png" else None

    def _repr_jpeg_(self) -> Optional[bytes]:
        return bytes(self) if self.format == "jpeg" else None

    def __repr__(self) -> str:
        return "<Screenshot %s, %d bytes>" % (self.format, len(self))

    def save(self, path: PathArg) -> PathArg:
        """Write the image to ``path``; returns the path.

        Raises:
            InvalidCommand: ``path`` is not a ``str`` or ``os.PathLike``.
        """
        with open(check_path(path), "wb") as fh:
            fh.write(self)
        return path


class Pdf(bytes):
    """PDF bytes; ``repr`` stays short instead of dumping the document."""

    def __repr__(self) -> str:
        return "<Pdf %d bytes>" % len(self)

    def save(self, path: PathArg) -> PathArg:
        """Write the document to ``path``; returns the path.

        Raises:
            InvalidCommand: ``path`` is not a ``str`` or ``os.PathLike``.
        """
        with open(check_path(path), "wb") as fh:
            fh.write(self)
        return path
