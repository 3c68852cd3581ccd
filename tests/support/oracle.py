"""A two-channel CSP+LDA "oracle" (``left`` when C3 carries more power than C4) and a sender of its cued trials, for
the live-scoring tests: every cue is decided right, so a score counts the trials the service scored."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pylsl

from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.http import wait_status

CH = ["C3", "C4"]
SFREQ = 100.0
MAP = {"L": "left", "R": "right"}


def oracle_params():
    """The oracle's CSP+LDA parameters (identity filters, ``left`` when C3 carries more power)."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.params import CspLdaParams

    return CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2), tau_s=0.1,
                        power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]), intercept=np.zeros(2),
                        labels=["left", "right"])


def export_oracles(root: Path, names: Iterable[str] = ("oracle",), decision_time_s: float = 1.0) -> None:
    """Export the oracle as each of ``names`` (version 1.0.0) into ``root``, its card's marker map :data:`MAP`."""
    from bci_stream.train.classical.export import export_csp_lda

    for name in names:
        export_csp_lda(oracle_params(), root / name, name=name, version="1.0.0",
                       scoring={"marker_map": MAP, "decision_time_s": decision_time_s})


def export_unscored(root: Path, name: str) -> None:
    """The oracle as ``name`` with no marker map: its card's ``training.label_map`` names classes that are not its
    outputs, so the service's live scoring of it is off (a hot swap to it keeps the earlier models' scores)."""
    from bci_stream.train.classical.export import export_csp_lda

    export_csp_lda(oracle_params(), root / name, name=name, version="1.0.0", training={"label_map": {"T1": "fists"}})


def push_trials(outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet, n_trials: int, seed: int) -> None:
    """``n_trials`` cues 250 samples apart (L, R, L, ...), each showing its side for 200 samples, at 4x real time."""
    rng = np.random.default_rng(seed)
    n = 100 + 250 * n_trials + 100
    x = (3.0 * rng.standard_normal((n, 2))).astype(np.float32)
    cues = []
    for k in range(n_trials):
        onset, side = 100 + 250 * k, k % 2
        x[onset:onset + 200, side] *= 10.0 / 3.0
        x[onset:onset + 200, 1 - side] /= 3.0
        cues.append((onset, "L" if side == 0 else "R"))
    ts = pylsl.local_clock() + 0.2 + np.arange(n) / (SFREQ * 4.0)
    for i in range(0, n, 10):
        if (wait := ts[min(i + 10, n) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 10], ts[i:i + 10].tolist())
        while cues and cues[0][0] < i + 10:
            k, value = cues.pop(0)
            marker_outlet.push_sample([value], float(ts[k]))


@dataclass
class ScoredDecoder:
    """A running decoder of the oracle's EEG outlet, its marker outlet beside it (:func:`scored_decoder`)."""

    id: str
    outlet: pylsl.StreamOutlet
    marker_outlet: pylsl.StreamOutlet
    status: dict[str, Any]  # the status that said it runs with its markers connected


@contextmanager
def scored_decoder(client: httpx.Client, prefix: str, model: str,
                   options: dict[str, Any] | None = None) -> Iterator[ScoredDecoder]:
    """A decoder of ``model`` (``options``: the request's) on a new EEG outlet (:data:`CH` at :data:`SFREQ`, named
    from ``prefix``) with a string marker outlet, once it runs with its markers connected; deleted at the end."""
    name = unique(prefix)
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": model} | (
        {"options": options} if options else {}))
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                         and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        yield ScoredDecoder(decoder_id, outlet, marker_outlet, st)
    finally:
        client.delete(f"/decoders/{decoder_id}")
