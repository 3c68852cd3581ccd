"""What ``bci-stream models`` and ``/ready`` read of an ONNX file without onnx or onnxruntime: protobuf's wire format.

They check each card against the metadata its graph was exported with (a card edited afterwards: labels swapped,
channels reordered, another unit), as loading the model does (:func:`~bci_stream.core.card.metadata_problem`), and
refuse a graph that keeps tensors in other files, without an onnxruntime session per model per probe.
:func:`metadata_props` walks the top level of the ``ModelProto`` (field 14, repeated ``StringStringEntryProto``:
``key`` 1, ``value`` 2); :func:`external_data` its graph's tensors (:func:`_graph_locations`). Every other field is
skipped by its length.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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


def _tensor_locations(tensor: memoryview) -> list[str]:
    """The external-data ``location`` of a ``TensorProto`` (field 13 ``external_data``, 14 ``data_location``), or []."""
    out, external = [], False
    for number, wire, value in _fields(tensor):
        if number == 13 and wire == _LEN:
            entry = {n: bytes(v).decode("utf-8", errors="replace") for n, w, v in _fields(value) if w == _LEN}
            if entry.get(1) == "location":
                out.append(entry.get(2, ""))
        elif number == 14 and wire == _VARINT and value == 1:
            external = True
    return out or (["?"] if external else [])


def _graph_locations(graph: memoryview) -> list[str]:
    """External-data locations in a ``GraphProto``: its initializers (5), sparse initializers (15: values 1,
    indices 2) and its nodes' (1) tensor attributes (5: ``t`` 5, ``tensors`` 10) and subgraphs (``g`` 6, ``graphs``
    11)."""
    out = []
    for number, wire, value in _fields(graph):
        if wire != _LEN:
            continue
        if number == 5:
            out += _tensor_locations(value)
        elif number == 15:
            out += [loc for n, w, v in _fields(value) if n in (1, 2) and w == _LEN for loc in _tensor_locations(v)]
        elif number == 1:
            for n, w, attribute in _fields(value):
                if n != 5 or w != _LEN:
                    continue
                for k, kw, v in _fields(attribute):
                    if kw == _LEN and k in (5, 10):
                        out += _tensor_locations(v)
                    elif kw == _LEN and k in (6, 11):
                        out += _graph_locations(v)
    return out


def external_data(path: Path | str) -> list[str]:
    """The files the ONNX model at ``path`` keeps tensors in (``external_data`` locations, ``"?"`` for one marked
    external without a location), [] for a self-contained model; OnnxFormatError when it is not one, also one with no
    graph at all (an empty file reads as a message of no fields: before, a 0-byte ``model.onnx`` whose card held its
    sha256 was listed as a valid model, and only a POST found it could not load: audit s63fault F2)."""
    buf = memoryview(Path(path).read_bytes())
    graphs = [value for number, wire, value in _fields(buf) if number == 7 and wire == _LEN]
    if not graphs:
        raise OnnxFormatError("it holds no graph (field 7 of an ONNX ModelProto)" + (": it is empty" if not buf else ""))
    return sorted({loc for graph in graphs for loc in _graph_locations(graph)})


def _shape(value_info: memoryview) -> list[int | str | None] | None:
    """The shape of a ``ValueInfoProto`` (``type`` 2 -> ``tensor_type`` 1 -> ``shape`` 2 -> ``dim`` 1, each
    ``dim_value`` 1 or ``dim_param`` 2), as onnxruntime gives it (an int, a name, None when unknown); None without
    one."""
    for n, w, type_proto in _fields(value_info):
        if n != 2 or w != _LEN:
            continue
        for k, kw, tensor in _fields(type_proto):
            if k != 1 or kw != _LEN:
                continue
            for j, jw, shape in _fields(tensor):
                if j != 2 or jw != _LEN:
                    continue
                dims: list[int | str | None] = []
                for d, dw, dim in _fields(shape):
                    if d == 1 and dw == _LEN:
                        parts = {f: v for f, fw, v in _fields(dim) if f in (1, 2)}
                        dims.append(parts[1] if isinstance(parts.get(1), int)
                                    else bytes(parts[2]).decode("utf-8", errors="replace") if 2 in parts else None)
                return dims
    return None


def io_shapes(path: Path | str) -> dict[str, list[int | str | None] | None]:
    """The shape of each input and output of the ONNX model's graph at ``path`` (``GraphProto`` fields 11 and 12,
    ``ValueInfoProto.name`` 1), as onnxruntime's ``get_inputs()`` gives it; OnnxFormatError when it is not one."""
    buf = memoryview(Path(path).read_bytes())
    out: dict[str, list[int | str | None] | None] = {}
    for number, wire, graph in _fields(buf):
        if number != 7 or wire != _LEN:
            continue
        for n, w, value_info in _fields(graph):
            if n in (11, 12) and w == _LEN:
                name = next((bytes(v).decode("utf-8", errors="replace") for k, kw, v in _fields(value_info)
                             if k == 1 and kw == _LEN), "")
                out[name] = _shape(value_info)
    return out


def per_file(table: dict[str, tuple[tuple[int, int, int], T]], path: Path, compute: Callable[[Path], T]) -> T:
    """``compute(path)``, kept in ``table`` and computed again only when the file's inode, size or modification time
    changed (``/ready``, probed every few seconds, reads each model file once)."""
    st = path.stat()
    seen, key = table.get(str(path)), (st.st_ino, st.st_size, st.st_mtime_ns)
    if seen is None or seen[0] != key:
        seen = table[str(path)] = (key, compute(path))
    return seen[1]


Shapes = dict[str, list[int | str | None] | None]
_FACTS: dict[str, tuple[tuple[int, int, int], tuple[dict[str, str], list[str], Shapes]]] = {}


def cached_facts(path: Path) -> tuple[dict[str, str], list[str], Shapes]:
    """``(metadata_props, external_data, io_shapes)`` of ``path`` (:func:`per_file`)."""
    return per_file(_FACTS, path, lambda p: (metadata_props(p), external_data(p), io_shapes(p)))


__all__ = ["OnnxFormatError", "Shapes", "cached_facts", "external_data", "io_shapes", "metadata_props", "per_file"]
