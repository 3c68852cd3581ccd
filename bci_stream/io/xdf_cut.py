"""An XDF file cut short within a chunk (a copy or download interrupted, a recorder killed mid-write): its whole
chunks.

An XDF file is ``XDF:`` then chunks ``[n_length_bytes:u8][length][tag:u16][content]``, each whole on its own, so a
file cut short is readable up to its last whole chunk. pyxdf reads most such files (its corruption handler scans
forward), but not one cut inside a chunk's 2-byte tag (``unpack requires a buffer of 2 bytes``: the file was refused
whole), and one cut within its first chunk, the file header, gave an XML parser's message or "0 candidate streams;
pass stream=<name>" (audit s67rec F2, F3).
"""

from __future__ import annotations

from pathlib import Path

from bci_stream.io.errors import DataError

#: The lengths a chunk's length field may have (bytes).
LENGTH_BYTES = (1, 4, 8)
#: A chunk's tag (2 bytes) is in its length: a shorter chunk is no chunk.
TAG_BYTES = 2


def whole_chunks(path: Path) -> tuple[int, int, int]:
    """``(end, size, n)``: where the last whole chunk of the XDF file ``path`` ends (byte offset; 4, the magic's end,
    when there is none), the file's size, and the whole chunks before ``end``. Reading stops at the first chunk that
    ends past the end of the file or whose length field is none XDF has (a corruption: nothing after it is taken)."""
    size = path.stat().st_size
    end, n = 4, 0
    with open(path, "rb") as f:
        f.seek(end)
        while (head := f.read(1)) and head[0] in LENGTH_BYTES:
            raw = f.read(head[0])
            length = int.from_bytes(raw, "little")
            nxt = end + 1 + head[0] + length
            if len(raw) < head[0] or length < TAG_BYTES or nxt > size:
                break
            end, n = nxt, n + 1
            f.seek(end)
    return end, size, n


def cut_short(path: Path) -> tuple[int, int, int] | None:
    """:func:`whole_chunks` of an XDF file that does not end on a chunk's end, else None (a compressed ``.xdfz``
    too: not read here). DataError naming the file when not even its file header, its first chunk, is whole (or
    there is nothing after its magic ``XDF:``)."""
    if path.suffix == ".xdfz" or path.suffixes[-2:] == [".xdf", ".gz"]:
        return None
    end, size, n = whole_chunks(path)
    if n == 0:  # (its magic alone, too)
        raise DataError(f"{path} is truncated within its file header (XDF's first chunk): the file holds {size} bytes "
                        "and no whole chunk, no stream (a copy or download cut short, or a recorder stopped as it "
                        "began? read it from its source again)")
    return None if end == size else (end, size, n)


def cut_message(path: Path, end: int, size: int, n: int) -> str:
    """The warning of a file read up to its last whole chunk."""
    return (f"{path.name}: the file ends within a chunk (cut short: a copy or download interrupted, a recorder "
            f"killed?): its {n} whole chunks are read, up to byte {end} of {size}")


__all__ = ["cut_message", "cut_short", "whole_chunks"]
