"""A reader of BCI2000 ``.dat`` files (formats 1.0 and 1.1).

Layout: an ASCII header (first line ``[BCI2000V= 1.1] HeaderLen= n SourceCh= c StatevectorLen= s
[DataFormat= int16|int32|float32]``, then ``[ State Vector Definition ]`` lines ``Name Length Value
ByteLocation BitLocation`` and ``[ Parameter Definition ]`` lines ``Section type Name= value ... //
comment``), then ``n_times`` blocks of ``c`` little-endian samples followed by the ``s``-byte state
vector. A state's value is the ``Length`` bits starting at bit ``8 * ByteLocation + BitLocation`` of
the state vector read as a little-endian bit string.

Signal in µV = (raw − SourceChOffset) × SourceChGain (gains in µV per A/D unit unless they carry a
unit suffix: ``muV``/``uV``/``mV``/``V``). Channel names come from the ``ChannelNames`` parameter; old
files without it take them from ``loc_file`` (an EEGLAB ``.loc``: index, theta, radius, label), by
default the single ``.loc`` file beside the recording whose channel count matches, else ``"1"`` … ``"c"``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.events import events_from_codes
from bci_stream.io.recording import Event

_DTYPES = {"int16": "<i2", "int32": "<i4", "float32": "<f4"}
_UNITS_TO_UV = {"": 1.0, "muv": 1.0, "uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


@dataclass(frozen=True)
class StateDef:
    """Where one state lives in the state vector."""

    name: str
    length: int
    byte: int
    bit: int


@dataclass
class Bci2000Header:
    header_len: int
    source_ch: int
    statevector_len: int
    data_format: str
    states: dict[str, StateDef]
    params: dict[str, list[str]]


def _param_values(rest: str) -> list[str]:
    """Values of a parameter line after ``Name=``: lists expanded to their entries, URL-decoded."""
    tokens = rest.split("//", 1)[0].split()
    return [unquote(t) for t in tokens]


def _list_entries(tokens: list[str]) -> list[str]:
    """Entries of a ``*list`` parameter: ``n v1 .. vn`` or ``{ label .. } v1 .. vn``."""
    if not tokens:
        return []
    if tokens[0] == "{":
        end = tokens.index("}")
        n = end - 1
        return tokens[end + 1:end + 1 + n]
    n = int(tokens[0])
    return tokens[1:1 + n]


def parse_header(text: str, path: Path) -> Bci2000Header:
    """Parse the ASCII header of a BCI2000 file."""
    lines = text.splitlines()
    first = dict(re.findall(r"(\w+)=\s*(\S+)", lines[0]))
    try:
        header_len, source_ch, sv_len = (int(first[k]) for k in ("HeaderLen", "SourceCh", "StatevectorLen"))
    except (KeyError, ValueError):
        raise DataError(
            f"{path}: first line must give HeaderLen, SourceCh and StatevectorLen; got {lines[0]!r}"
        ) from None
    data_format = first.get("DataFormat", "int16")
    if data_format not in _DTYPES:
        raise DataError(f"{path}: DataFormat must be one of {sorted(_DTYPES)}; got {data_format!r}")
    states: dict[str, StateDef] = {}
    params: dict[str, list[str]] = {}
    section = ""
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[] ").lower()
            continue
        if section.startswith("state"):
            parts = line.split()
            if len(parts) >= 5:
                name, length, _value, byte, bit = parts[:5]
                states[name] = StateDef(name, int(length), int(byte), int(bit))
        elif section.startswith("parameter"):
            m = re.match(r"^\S+\s+(\S+)\s+([^\s=]+)=(.*)$", line)
            if m:
                ptype, name, rest = m.groups()
                tokens = _param_values(rest)
                params[name] = _list_entries(tokens) if ptype.endswith("list") else tokens[:1]
    return Bci2000Header(header_len, source_ch, sv_len, data_format, states, params)


def _to_uv(value: str, what: str, path: Path) -> float:
    m = re.fullmatch(r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*([a-zA-Zµ]*)", value)
    if m is None or m.group(2).lower() not in _UNITS_TO_UV:
        raise DataError(f"{path}: {what} entries must be numbers with an optional voltage unit; got {value!r}")
    return float(m.group(1)) * _UNITS_TO_UV[m.group(2).lower()]


def _sfreq(header: Bci2000Header, path: Path) -> float:
    values = header.params.get("SamplingRate")
    if not values:
        raise DataError(f"{path}: the header has no SamplingRate parameter")
    m = re.fullmatch(r"([\d.]+(?:[eE][-+]?\d+)?)\s*(Hz)?", values[0])
    if m is None:
        raise DataError(f"{path}: SamplingRate must be a number of Hz; got {values[0]!r}")
    return float(m.group(1))


def _per_channel(header: Bci2000Header, name: str, path: Path) -> np.ndarray:
    values = header.params.get(name)
    if values is None or len(values) < header.source_ch:
        got = "missing" if values is None else f"{len(values)} entries"
        raise DataError(f"{path}: {name} must have one entry per channel (SourceCh={header.source_ch}); got {got}")
    return np.array([_to_uv(v, name, path) for v in values[:header.source_ch]])


def loc_names(loc: Path) -> list[str]:
    """The channel labels of an EEGLAB ``.loc`` / ``.locs`` file (lines ``index theta radius label``), in order."""
    names = []
    for line in loc.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            names.append(parts[3])
    return names


def _channel_names(header: Bci2000Header, path: Path, loc_file: str | Path | bool | None) -> list[str]:
    n = header.source_ch
    if loc_file is not None and loc_file is not False:
        names = loc_names(Path(loc_file))
        if len(names) != n:
            raise DataError(f"loc_file must list SourceCh={n} channels for {path.name}; {loc_file} lists {len(names)}")
        return names
    names = header.params.get("ChannelNames", [])
    if len(names) == n:
        return names
    if loc_file is False:  # the caller names the channels (--channel-names): no .loc looked up, nor warned of
        return [str(i + 1) for i in range(n)]
    candidates = [c for c in sorted(path.parent.glob("*.loc")) if len(loc_names(c)) == n]
    if len(candidates) == 1:  # said: a .loc of another cap's order, of the same count, would mislabel every channel
        warnings.warn(f"{path.name} has no ChannelNames parameter: its {n} channels are named by {candidates[0].name} "
                      f"beside it (the only .loc file there of {n} channels); if that is not this recording's montage, "
                      "name them with --channel-names", RecordingWarning, stacklevel=2)
        return loc_names(candidates[0])
    return [str(i + 1) for i in range(n)]


def state_values(states: np.ndarray, state: StateDef) -> np.ndarray:
    """The values of ``state`` for each row of the ``[n_times, StatevectorLen]`` uint8 state vectors."""
    start = 8 * state.byte + state.bit
    b0, b1 = start // 8, (start + state.length - 1) // 8
    acc = np.zeros(states.shape[0], dtype=np.uint64)
    for k, b in enumerate(range(b0, b1 + 1)):
        acc |= states[:, b].astype(np.uint64) << np.uint64(8 * k)
    acc >>= np.uint64(start - 8 * b0)
    return (acc & np.uint64((1 << state.length) - 1)).astype(np.int64)


def read_bci2000_raw(path: Path, *, loc_file: str | Path | bool | None = None
                     ) -> tuple[np.ndarray, float, list[str], dict[str, np.ndarray], Bci2000Header]:
    """Data ``[n_chans, n_times]`` in µV, sfreq, channel names, every state's values, and the header."""
    blob = path.read_bytes()
    newline = blob.find(b"\n")
    if newline < 0 or b"HeaderLen=" not in blob[:newline]:
        raise DataError(f"{path} is not a BCI2000 file: its first line has no HeaderLen=")
    first = blob[:newline].decode("latin-1")
    m = re.search(r"HeaderLen=\s*(\d+)", first)
    header_len = int(m.group(1)) if m else 0
    header = parse_header(blob[:header_len].decode("latin-1"), path)
    dtype = np.dtype(_DTYPES[header.data_format])
    block = header.source_ch * dtype.itemsize + header.statevector_len
    body = len(blob) - header.header_len
    n_times = body // block
    layout = f"SourceCh={header.source_ch}, DataFormat={header.data_format}, StatevectorLen={header.statevector_len}"
    if n_times <= 0:  # before: "data size -7110 bytes is not a whole number of ..." for a header cut short
        raise DataError(f"{path.name} is truncated: its header says HeaderLen={header.header_len} bytes and one sample "
                        f"takes {block} bytes ({layout}), the file holds {len(blob)} bytes: not one whole sample")
    if body % block:  # a recorder killed, a copy cut short: its whole samples, as of an EDF, GDF or BrainVision file
        warnings.warn(f"{path.name} is truncated: its data ({body} bytes after the {header.header_len}-byte header) "
                      f"is not a whole number of {block}-byte samples ({layout}); the last partial sample "
                      f"({body % block} bytes) was dropped, {n_times} samples read", RecordingWarning, stacklevel=2)
    rows = np.frombuffer(blob, dtype=np.uint8, count=n_times * block, offset=header.header_len).reshape(n_times, block)
    raw = rows[:, :header.source_ch * dtype.itemsize].copy().view(dtype)  # [n_times, n_chans]
    sv = rows[:, header.source_ch * dtype.itemsize:]
    offset = _per_channel(header, "SourceChOffset", path)
    gain = _per_channel(header, "SourceChGain", path)
    data = (raw.T.astype(np.float64) - offset[:, None]) * gain[:, None]
    states = {name: state_values(sv, sd) for name, sd in header.states.items()}
    return data, _sfreq(header, path), _channel_names(header, path, loc_file), states, header


def read_bci2000(path: Path, *, state: str = "StimulusCode", type_state: str | None = None,
                 include_zero: bool | None = None, loc_file: str | Path | bool | None = None
                 ) -> tuple[np.ndarray, float, list[str], list[Event]]:
    """Data (µV), sfreq, channel names and events from the values of a state.

    Parameters
    ----------
    state
        The state whose runs of constant value become events, description = the value as text
        (``"0"``, ``"1"``, ...).
    type_state
        If given, events are the runs of non-zero ``state`` (e.g. each P300 flash of
        ``StimulusCode``) and each description is ``type_state``'s value at its onset (e.g.
        ``StimulusType`` ``"1"`` target, ``"0"`` non-target).
    include_zero
        Make events of runs of value 0 too. Default: True without ``type_state`` (``StimulusCode`` 0 is
        rest in cued motor tasks), False with it.
    loc_file
        An EEGLAB ``.loc`` file naming the channels, for files without ``ChannelNames``; ``False``: none (the
        channels are numbered ``"1"`` … ``"c"``, for a caller that names them:
        :func:`~bci_stream.io.load.named_options`).
    """
    data, sfreq, names, states, _header = read_bci2000_raw(path, loc_file=loc_file)
    for key, name in (("state", state), ("type_state", type_state)):
        if name is not None and name not in states:
            raise DataError(f"{key} must be a state of {path.name}; got {name!r}, states are {sorted(states)}")
    if type_state is None:
        events = events_from_codes(states[state], include_zero=True if include_zero is None else include_zero)
    else:
        events = events_from_codes(states[state], include_zero=bool(include_zero), descriptions=states[type_state])
    return data, sfreq, names, events
