"""A minimal BCI2000 ``.dat`` writer (format 1.1, int16) for tests: the repo has a reader only
(:mod:`bci_stream.io.bci2000`). Each state is one byte of the state vector (``Length`` <= 8, bit 0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def write_bci2000(path: Path, raw: np.ndarray, sfreq: float, ch_names: Sequence[str] | None,
                  states: Mapping[str, np.ndarray], gain_uv: float = 0.1) -> Path:
    """Write ``raw`` ``[n_chans, n_times]`` int16 A/D units (µV = raw × ``gain_uv``) and ``states`` (name -> values
    per sample, each < 256) as a BCI2000 1.1 file at ``path`` (``ch_names`` None: no ``ChannelNames``, as old files)."""
    n_chans, n_times = raw.shape
    names = list(states)
    state_lines = [f"{name} 8 0 {i} 0" for i, name in enumerate(names)]
    params = [f"Source int SamplingRate= {sfreq:g}Hz",
              f"Source floatlist SourceChGain= {n_chans} " + " ".join([f"{gain_uv:g}"] * n_chans),
              f"Source floatlist SourceChOffset= {n_chans} " + " ".join(["0"] * n_chans)]
    if ch_names is not None:
        params.append(f"Source list ChannelNames= {n_chans} " + " ".join(ch_names))
    body = "\r\n".join(["[ State Vector Definition ]", *state_lines, "[ Parameter Definition ]", *params]) + "\r\n"
    header_len = 0
    while True:  # the first line gives the header's length, itself included
        first = (f"BCI2000V= 1.1 HeaderLen= {header_len} SourceCh= {n_chans} StatevectorLen= {len(names)} "
                 "DataFormat= int16\r\n")
        if len(first) + len(body) == header_len:
            break
        header_len = len(first) + len(body)
    rows = np.zeros(n_times, dtype=[("x", "<i2", (n_chans,)), ("s", "u1", (len(names),))])
    rows["x"] = raw.T.astype("<i2")
    rows["s"] = np.stack([np.asarray(states[n], dtype=np.uint8) for n in names], axis=1)
    path.write_bytes((first + body).encode("latin-1") + rows.tobytes())
    return path


def speller(path: Path, sfreq: float = 128.0, n: int = 1280) -> Path:
    """A small P300-speller-like BCI2000 file: a flash of 16 samples every 48 (StimulusCode 1..6 in turn),
    StimulusType 1 on the flashes of code 3 (the target)."""
    code, kind = np.zeros(n, int), np.zeros(n, int)
    for k, onset in enumerate(range(40, n - 80, 48)):
        code[onset:onset + 16], kind[onset:onset + 16] = k % 6 + 1, int(k % 6 == 2)
    raw = np.random.default_rng(0).integers(-500, 500, (2, n))
    return write_bci2000(path, raw, sfreq, ["Fz", "Cz"], {"StimulusCode": code, "StimulusType": kind})
