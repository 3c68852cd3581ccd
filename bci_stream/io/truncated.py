"""Files cut short (a copy or download interrupted, a recorder killed): what the readers say of them.

mne reads a truncated EDF/BDF file's whole records, with a warning that the header's record count does not match
the file size, which :func:`edf_truncation_note` replaces by the header's values, the file's size and what was read;
of the other formats it reads through, it fails with an error of its internals or says nothing:

* **GDF**: mne reshapes the data into the header's number of records and fails (``cannot reshape array of size ...
  into shape (125,newaxis)``). :func:`gdf_layout` compares the file size with the header (data offset, record size,
  record count); when it holds fewer whole records, :func:`gdf_whole_copy` writes a copy of the header (its record
  count set to the whole records) and of those records for mne to read, and :func:`gdf_truncation_note` is the
  warning: the whole records are read, as of an EDF file, and the event table (stored after the data) is lost.
  A file without one whole record is refused (:func:`gdf_truncation_error`), naming the header's values and the size.
  A file that holds every record but ends within its event table (mne fails, or reads every duration as 1 sample)
  is read the same way: its data whole, its events lost, with a warning naming the table's size and the file's.
* **FIF**: mne fails in ways that do not say why (``buffer size must be a multiple of element size``):
  :func:`fif_hint` adds that the file may be truncated or corrupt, with its size.
* **BrainVision**: mne reads the whole samples of a ``.eeg`` cut mid-sample and says nothing:
  :func:`brainvision_partial_sample` compares the ``.eeg`` size with the channels x the sample size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from bci_stream.io.brainvision import _header_text
from bci_stream.io.gdf import _TYPE_BYTES, GdfHeader

#: Bytes per value of each BrainVision ``BinaryFormat``.
_BV_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}
#: Byte offset of the number of data records (int64) in a GDF fixed header (GDF 1.x and 2.x).
_GDF_N_RECORDS_AT = 236
#: An event table of mode 1 without events (GDF 1.x: rate 0, 0 events; GDF 2.x: 0 events, rate 0).
_EMPTY_EVENT_TABLE = b"\x01" + bytes(7)


class GdfLayout(NamedTuple):
    """What a GDF header says of its data, and what the file holds."""

    n_records: int  # the header's record count
    record_bytes: int  # bytes of one data record (every channel's samples)
    data_at: int  # byte offset of the first record
    size: int  # the file's size in bytes
    table_bytes: int | None = None  # the event table's size by its own head; None: no table, or not one read here
    count_unknown: bool = False  # the header's count is -1 (unknown): ``n_records`` is the whole records held

    @property
    def whole(self) -> int:
        """The whole records the file holds (at most the header's count)."""
        return max(0, min(self.n_records, (self.size - self.data_at) // self.record_bytes))

    @property
    def table_at(self) -> int:
        """Byte offset of the event table (after every record the header counts)."""
        return self.data_at + self.n_records * self.record_bytes

    @property
    def table_cut(self) -> bool:
        """Whether the file holds every record but ends within its event table."""
        return self.whole == self.n_records and self.size < self.table_at + (self.table_bytes or 0)

    @property
    def truncated(self) -> bool:
        """Whether the file holds fewer records than its header says, or ends within its event table, or its header
        does not say (mne cannot read it: it reads a copy, :func:`gdf_whole_copy`)."""
        return self.whole < self.n_records or self.table_cut or self.count_unknown

    def says(self) -> str:
        """The rule and the values: ``file truncated: header says ... the file holds M bytes``."""
        if self.count_unknown:
            return (f"its header's record count is -1 (unknown: a recorder that did not close the file); the file "
                    f"holds {self.size} bytes: {self.whole} whole record(s) of {self.record_bytes} bytes from byte "
                    f"{self.data_at}")
        return (f"file truncated: header says {self.n_records} records of {self.record_bytes} bytes from byte "
                f"{self.data_at} (data to byte {self.data_at + self.n_records * self.record_bytes}, then the event "
                f"table), the file holds {self.size} bytes")


def gdf_layout(path: Path, header: GdfHeader) -> GdfLayout | None:
    """The data layout of the GDF file ``path`` by its ``header`` and its size; None when its records hold no
    samples (nothing to check)."""
    record = sum(_TYPE_BYTES[t] * n for t, n in zip(header.types, header.n_samps))
    if record <= 0:
        return None
    with path.open("rb") as f:
        f.seek(header.data_at + header.n_records * record)
        head = f.read(8)
    table = None
    # the table's head says how long it is (a head cut short: 8 bytes at least); a count of -1: no table is known
    if len(head) and head[0] in (1, 3) and not header.count_unknown:
        n = (int.from_bytes(head[1:4], "little") if header.version >= 1.94 else
             int.from_bytes(head[4:8], "little")) if len(head) == 8 else 0
        table = 8 + n * (12 if head[0] == 3 else 6)
    return GdfLayout(header.n_records, record, header.data_at, path.stat().st_size, table, header.count_unknown)


def gdf_truncation_error(path: Path, layout: GdfLayout) -> str:
    """Why a GDF file without one whole record is refused (the rule and the values)."""
    return f"cannot read {path} as a .gdf file: {layout.says()}: not one whole record"


def gdf_whole_copy(path: Path, layout: GdfLayout, folder: Path) -> Path:
    """A copy of the GDF file ``path`` in ``folder`` holding its header, with the record count set to
    ``layout.whole``, those whole records and an empty event table: what mne can read."""
    out = folder / path.name
    with path.open("rb") as src, out.open("wb") as dst:
        head = bytearray(src.read(layout.data_at))
        head[_GDF_N_RECORDS_AT:_GDF_N_RECORDS_AT + 8] = layout.whole.to_bytes(8, "little", signed=True)
        dst.write(head)
        left = layout.whole * layout.record_bytes
        while left > 0:
            chunk = src.read(min(left, 1 << 24))
            dst.write(chunk)
            left -= len(chunk)
        dst.write(_EMPTY_EVENT_TABLE)  # mne reads a GDF 1.x file's event table whether or not the file has one
    return out


def gdf_truncation_note(path: Path, layout: GdfLayout, seconds: float) -> str:
    """The warning of a truncated GDF file read as its whole records (``seconds`` long)."""
    if layout.table_cut:
        return (f"{path.name}: event table truncated: it says it holds {layout.table_bytes} bytes from byte "
                f"{layout.table_at}, the file holds {layout.size} bytes: the data is read whole ({seconds:g} s), the "
                "events are lost (they come from the file's trigger channel, if any)")
    if layout.count_unknown:
        return (f"{path.name}: {layout.says()}: read those ({seconds:g} s); a part record at the end, and an event "
                "table if the recorder wrote one, are not read (events come from the file's trigger channel, if any)")
    return (f"{path.name}: {layout.says()}: read the {layout.whole} whole record(s) ({seconds:g} s); the rest of the "
            "data and the event table (events come from the file's trigger channel, if any) are lost")


#: The start of mne's warning of an EDF/BDF file shorter than its header says (:func:`edf_truncation_note` names the
#: values instead).
MNE_EDF_TRUNCATED = "Number of records from the header does not match the file size"


def edf_truncation_note(path: Path) -> str | None:
    """The warning of an EDF/BDF file holding fewer whole records than its header says, read as those records (what
    mne reads): the header's record count, record size and data offset, the file's size, the records and seconds
    read; None when the header does not say (a count of -1: unknown) or the file holds every record."""
    try:
        with path.open("rb") as f:
            head = f.read(256).decode("latin-1")
            ns = int(head[252:256])
            signals = f.read(ns * 256).decode("latin-1")
        data_at, n_records, duration = int(head[184:192]), int(head[236:244]), float(head[244:252])
        at = ns * (16 + 80 + 5 * 8 + 80)  # label, transducer, dimension and 4 ranges, prefiltering: then samples
        n_samps = [int(signals[at + 8 * k:at + 8 * (k + 1)]) for k in range(ns)]
    except (OSError, ValueError):
        return None
    record = sum(n_samps) * (3 if path.suffix.lower() == ".bdf" else 2)
    size = path.stat().st_size
    whole = max(0, (size - data_at) // record) if record > 0 else 0
    if n_records <= 0 or whole >= n_records:
        return None
    return (f"{path.name}: file truncated: header says {n_records} records of {record} bytes from byte {data_at}, the "
            f"file holds {size} bytes: read the {whole} whole record(s) ({whole * duration:g} s)")


#: What a hint of a file cut short advises.
AGAIN = "a copy or download cut short? read it from its source again"


def _fixed_part(path: Path, kind: str) -> tuple[int, bytes] | str:
    """The size of ``path`` and its first 256 bytes (the fixed part of an EDF, BDF or GDF header), or the hint when it
    holds fewer (``kind``: "an EDF/BDF", "a GDF"; ``""`` when it cannot be read)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(256)
    except OSError:
        return ""
    if size < 256:
        return (f"; {path.name} is truncated within its header: it holds {size} bytes, fewer than the 256 bytes of "
                f"{kind} header's fixed part ({AGAIN})")
    return size, head


def _cut_header(path: Path, ns: int, need: int, size: int, how: str = "") -> str:
    """The hint of a file of ``size`` bytes whose header, by its own fields (``ns`` signals), is ``need`` bytes."""
    return (f"; {path.name} is truncated within its header: the header says {ns} signals, so {need} bytes of header"
            f"{how} before the first sample, the file holds {size} bytes ({AGAIN})")


def edf_header_hint(path: Path) -> str:
    """What an EDF/BDF read error adds when the file ends within its header, where mne fails with an error that names
    no cause (``could not convert string to float: ''``, an empty ``AssertionError``, ``Bad EDF file provided``;
    audit s51): the header's length by its own fields (256 bytes, then 256 per signal) and the file's size; ``""``
    when the file holds its whole header (or the header does not say how long it is)."""
    if isinstance(got := _fixed_part(path, "an EDF/BDF"), str):
        return got
    size, head = got
    try:
        ns = int(head[252:256].decode("latin-1"))
    except ValueError:
        return ""
    need = 256 * (ns + 1)
    if ns <= 0:
        return ""
    if size < need:
        return _cut_header(path, ns, need, size, " (256 + 256 per signal)")
    with path.open("rb") as f:
        f.seek(256 + ns * (16 + 80 + 5 * 8 + 80))  # label, transducer, dimension, 4 ranges, prefiltering: samples
        counts = f.read(8 * ns).decode("latin-1")
    try:
        record = sum(int(counts[8 * k:8 * (k + 1)]) for k in range(ns)) * (3 if path.suffix.lower() == ".bdf" else 2)
    except ValueError:
        return ""
    if record <= 0 or size - need >= record:
        return ""
    return (f"; {path.name} is truncated: it holds its {need}-byte header and {size - need} bytes of data, not one "
            f"whole record of {record} bytes ({AGAIN})")


def gdf_header_hint(path: Path) -> str:
    """What a GDF read error adds when the file ends within its header (mne fails with an ``IndexError`` or "Bad GDF
    file provided", naming no cause: audit s67rec F7): the header's length by its own fields and the file's size;
    ``""`` when the file holds its whole header (or is no GDF this check reads)."""
    if isinstance(got := _fixed_part(path, "a GDF"), str):
        return got
    size, head = got
    try:
        version = float(head[4:8].decode("ascii")) if head.startswith(b"GDF ") else None
    except (UnicodeDecodeError, ValueError):
        version = None
    if version is None:
        return ""
    ns = int.from_bytes(head[252:254] if version >= 1.9 else head[252:256], "little")
    need = int.from_bytes(head[184:186], "little") * 256 if version >= 1.9 else int.from_bytes(head[184:192], "little")
    need = max(need, 256 * (ns + 1))
    return "" if ns == 0 or size >= need else _cut_header(path, ns, need, size)

def fif_hint(path: Path) -> str:
    """What a FIF read error that names no cause adds: the file may be truncated or corrupt, and its size."""
    return (f"; {path.name} may be truncated or corrupt (e.g. a copy or download cut short; it holds "
            f"{path.stat().st_size} bytes): read it from its source again")


def _common(text: str, key: str) -> str | None:
    m = re.search(rf"^\s*{key}\s*=\s*(.*?)\s*$", text, re.IGNORECASE | re.MULTILINE)
    return m.group(1) if m else None


def _bv_binary(path: Path) -> tuple[str, str, str | None, str, int, int] | None:
    """``(header text, DataFile, BinaryFormat, NumberOfChannels, bytes per value, the data file's size)`` of the
    BrainVision header ``path`` of binary data, or None (ASCII data, an unknown format, no data file)."""
    text = _header_text(path)
    name, fmt, n = _common(text, "DataFile"), _common(text, "BinaryFormat"), _common(text, "NumberOfChannels")
    if (_common(text, "DataFormat") or "BINARY").upper() != "BINARY" or not name or not n or not n.isdigit():
        return None
    width = _BV_BYTES.get((fmt or "").upper())
    data = path.parent / name
    if width is None or not int(n) or not data.is_file():
        return None
    return text, name, fmt, n, width, data.stat().st_size


def brainvision_no_sample(path: Path) -> str | None:
    """The refusal of the BrainVision header ``path`` whose binary data file holds less than one whole sample (mne:
    "No data in this range", naming neither file nor size: audit s68cal F5), or None."""
    if (bv := _bv_binary(path)) is None:
        return None
    _, name, fmt, n, width, size = bv
    if size >= int(n) * width:
        return None
    return (f"{path.name}: data file {name} holds {size} bytes, less than one sample of {n} channels x {width} bytes "
            f"({fmt}: {int(n) * width} bytes per sample): no data to read (a copy or download cut short, or the data "
            "file replaced): read it from its source again")


def brainvision_partial_sample(path: Path) -> str | None:
    """The warning for the BrainVision header ``path`` whose binary data file does not hold a whole number of
    samples (channels x the size of ``BinaryFormat``'s value): mne drops the partial sample at its end and says
    nothing. None when the sizes agree, or the header is not one this check follows (ASCII data, an unknown binary
    format, a data file not found)."""
    if (bv := _bv_binary(path)) is None:
        return None
    text, name, fmt, n, width, size = bv
    sample = int(n) * width
    if size % sample == 0:
        return None
    vectorized = (_common(text, "DataOrientation") or "").upper() == "VECTORIZED"
    return (f"{path.name}: data file {name} is truncated: it holds {size} bytes, not a whole number of samples of "
            f"{n} channels x {width} bytes ({fmt}: {sample} bytes per sample); the last partial sample "
            f"({size % sample} bytes) was dropped, {size // sample} samples read"
            + ("; the file is VECTORIZED (channel after channel): the channels after the first may be shifted"
               if vectorized else ""))


__all__ = ["GdfLayout", "brainvision_no_sample", "brainvision_partial_sample", "edf_header_hint", "fif_hint",
           "gdf_header_hint", "gdf_layout", "gdf_truncation_error", "gdf_truncation_note", "gdf_whole_copy"]


def brainvision_marker_hint(path: Path) -> str | None:
    """Why mne could not read the BrainVision header ``path``'s marker file, when a marker line has fewer than the
    four comma-separated fields mne reads (type, description, position, size; then channel): mne said only "not enough
    values to unpack" (audit s69io F10), e.g. of a last line a recorder stopped while writing. None when every line
    has them (or the marker file is not found)."""
    name = _common(_header_text(path), "MarkerFile")
    vmrk = path.parent / name if name else None
    if vmrk is None or not vmrk.is_file():
        return None
    lines = vmrk.read_bytes().decode("utf-8", "replace").splitlines()
    for k, line in enumerate(lines):
        key, _, value = line.partition("=")
        if re.fullmatch(r"\s*Mk\d+\s*", key) and len(value.split(",")) < 4:
            last = k == len(lines) - 1 or not any(s.strip() for s in lines[k + 1:])
            return (f"; {vmrk.name}: marker line {k + 1} ({line.strip()!r}) has {len(value.split(','))} of the "
                    "comma-separated fields type, description, position, size (then channel)"
                    + (": it is the file's last line, cut short (a recorder stopped while writing it, or a copy cut "
                       "short): delete or complete it" if last else ": mend or delete it"))
    return None


def eeglab_hint(exc: Exception) -> str | None:
    """What mne's error reading an EEGLAB file means, when it names no cause (audit s69io F10): its ``.fdt`` holding
    fewer values than the ``.set`` says ("Incorrect number of samples (A != B), please report this error to
    MNE-Python developers"), or the ``.set`` (a MATLAB file) ending early ("could not read bytes"). None otherwise."""
    text = str(exc)
    if m := re.search(r"Incorrect number of samples \((\d+) != (\d+)\)", text):
        return (f"; the data file (.fdt) holds {m.group(1)} values where the .set says {m.group(2)} (channels x "
                "samples): it is cut short (a copy or download) or belongs to another .set: read it from its source "
                "again")
    if "could not read bytes" in text or "Mat file appears to be truncated" in text:
        return "; the .set file ends early: it is cut short (a copy or download): read it from its source again"
    return None
