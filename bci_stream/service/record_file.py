"""A recording's file on disk: appended to in whole XDF chunks, never left ending inside one, watched for removal.

A disk that fills up (ENOSPC), a quota, an I/O error can fail a write half-way: with a buffered file the part that
went through stays, and every later chunk after it is read as garbage. :class:`RecordFile` writes each batch of
chunks at its known end (``os.pwrite``) and, when a write fails, cuts the file back to that end, so the file always
holds whole chunks and writing may resume once the disk has room. A file removed while written (its folder deleted:
POSIX lets the writes go on into the unlinked inode, lost at the close) is told by :meth:`removed`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class RecordFile:
    """The file at ``path``: created by :meth:`create` (never over an existing one), appended to by :meth:`append`.

    Attributes
    ----------
    size
        Bytes of whole chunks in the file (its end: the next write goes there).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.size = 0

    @property
    def is_open(self) -> bool:
        return self.fd is not None

    def create(self, header: bytes) -> None:
        """Create the file (its folder too) holding ``header``.

        Raises
        ------
        OSError
            It exists (FileExistsError), or it cannot be created or written (no room, read-only, no permission):
            then nothing is left at ``path`` by this call.
        """
        for folder in reversed([f for f in (self.path.parent, *self.path.parent.parents) if not f.exists()]):
            folder.mkdir(mode=0o750, exist_ok=True)  # each one made here: owner and group only
        # EEG of people: owner read-write, group read, others nothing, whatever the umask allows beyond that
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            _write_all(fd, header, 0)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        self.fd, self.size = fd, len(header)

    def append(self, data: bytes) -> None:
        """Write ``data`` (whole chunks) at the end.

        Raises
        ------
        OSError
            The write failed: the file is cut back to its end before it (:attr:`size` unchanged).
        """
        assert self.fd is not None
        try:
            _write_all(self.fd, data, self.size)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def removed(self) -> bool:
        """The open file has no name left (it, or its folder, was removed while written)."""
        return self.fd is not None and os.fstat(self.fd).st_nlink == 0

    def sync(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)

    def close(self) -> None:
        """Close it (never raises: nothing is buffered here)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
