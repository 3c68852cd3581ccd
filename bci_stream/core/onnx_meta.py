"""An ONNX file's ``metadata_props`` read without onnx or onnxruntime: a few lines of protobuf's wire format.

``bci-stream models`` and ``GET /ready`` check each card against the metadata its graph was exported with (a card
edited afterwards: labels swapped, channels reordered, another unit), as loading the model does
(:func:`~bci_stream.core.card.graph_metadata_disagreements`), without opening an onnxruntime session per model per
probe. Only the top level of the ``ModelProto`` is walked: field 14 (``metadata_props``, repeated
``StringStringEntryProto``: ``key`` 1, ``value`` 2); every other field is skipped by its length.
"""

from __future__ import annotations

from pathlib import Path

_METADATA_PROPS = 14
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


class OnnxFormatError(ValueError):
    """The bytes are not a protobuf message this reader can walk."""


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise OnnxFormatError(f"a varint runs past the end or over 10 bytes at byte {pos}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes | memoryview):
    """``(field number, wire type, value)`` of each field of one message (a length-delimited value as bytes)."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise OnnxFormatError(f"field {number} of {size} bytes runs past the end at byte {pos}")
            value, pos = buf[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
            value = None
        else:
            raise OnnxFormatError(f"field {number} has wire type {wire}, which ONNX does not use")
        yield number, wire, value


def metadata_props(path: Path | str) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX model at ``path`` (key -> value); OnnxFormatError when it is not one."""
    buf = memoryview(Path(path).read_bytes())
    out: dict[str, str] = {}
    for number, wire, value in _fields(buf):
        if number != _METADATA_PROPS or wire != _LEN:
            continue
        entry = {n: bytes(v).decode("utf-8", errors="replace") for n, w, v in _fields(value) if w == _LEN}
        if 1 in entry:
            out[entry[1]] = entry.get(2, "")
    return out


#: path -> ((inode, size, mtime), metadata_props): a probe every few seconds reads each file once
_SEEN: dict[str, tuple[tuple[int, int, int], dict[str, str]]] = {}


def cached_metadata_props(path: Path) -> dict[str, str]:
    """:func:`metadata_props` of ``path``, read again only when its inode, size or modification time changed."""
    st = path.stat()
    seen, key = _SEEN.get(str(path)), (st.st_ino, st.st_size, st.st_mtime_ns)
    if seen is None or seen[0] != key:
        seen = _SEEN[str(path)] = (key, metadata_props(path))
    return seen[1]


__all__ = ["OnnxFormatError", "cached_metadata_props", "metadata_props"]
