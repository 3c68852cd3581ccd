"""The mne-lsl peer role: an mne-lsl ``StreamLSL`` polling loop running the model in torch
(``python -m latency_bench.roles mnelsl``), the way a user of mne-lsl would write it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pylsl

from latency_bench.role_common import _stream_info
from latency_bench.role_protocol import Commands, emit


def run_mnelsl(config: dict[str, Any]) -> None:
    """An mne-lsl ``StreamLSL`` polling loop that runs the model in torch and publishes each output sample
    with its input timestamp, the way a user of mne-lsl would write it.

    ``StreamLSL`` acquires on its own thread every ``acquisition_delay`` (1 ms, its default), applies the
    causal band-pass (``Stream.filter``, IIR SOS with carried state) and the average reference; the loop
    polls ``n_new_samples`` every ``poll_s``, reads the new samples, standardises them, steps the torch
    model over them with the recurrent state carried, and pushes the outputs on a pylsl outlet.

    Config: ``in``, ``out``, ``sfreq``, ``model`` (``CausalRNN`` constructor arguments), ``state_dict``
    (path of a torch state dict, or None for the seed's random weights), ``bandpass`` ([lo, hi] or None),
    ``car``, ``mean``, ``std``, ``poll_s``, ``bufsize_s``.
    """
    import torch
    from mne_lsl.stream import StreamLSL

    from bci_stream.train.nets.rnn import CausalRNN

    torch.set_num_threads(1)
    cmds = Commands()
    torch.manual_seed(int(config.get("seed", 0)))
    model = CausalRNN(**config["model"]).eval()
    if config.get("state_dict"):
        model.load_state_dict(torch.load(config["state_dict"], weights_only=True))
    sfreq = float(config["sfreq"])
    stream = StreamLSL(bufsize=float(config.get("bufsize_s", 2.0)), name=config["in"])
    stream.connect(acquisition_delay=0.001, timeout=20.0)
    if config.get("car", True):
        stream.set_eeg_reference("average")
    if config.get("bandpass"):
        lo, hi = config["bandpass"]
        stream.filter(lo, hi, iir_params={"order": int(config.get("filter_order", 4)), "ftype": "butter",
                                          "output": "sos"})
    if config.get("notch"):
        stream.notch_filter(float(config["notch"]))
    mean = np.asarray(config.get("mean") or 0.0, dtype=np.float32)
    std = np.asarray(config.get("std") or 1.0, dtype=np.float32)
    labels = [f"y{i}" for i in range(config["model"]["n_outputs"])]
    outlet = pylsl.StreamOutlet(_stream_info(config["out"], f"{config['in']}/mnelsl", labels, sfreq, "float32",
                                             stype="Decoded", unit="probability"), chunk_size=0, max_buffered=360)
    picks = np.arange(len(stream.ch_names))
    state = list(model.zero_state(1))
    last_ts = -np.inf
    poll = float(config.get("poll_s", 0.001))
    window = float(config.get("bufsize_s", 2.0))
    emit("ready", out=config["out"])
    with torch.inference_mode():
        while not cmds.eof.is_set():
            if stream.n_new_samples == 0:
                time.sleep(poll)
                continue
            data, ts = stream.get_data(winsize=window, picks=picks)
            start = int(np.searchsorted(ts, last_ts, side="right"))
            if start >= len(ts):
                continue
            x = ((data[:, start:].T - mean) / std).astype(np.float32)
            new_ts = ts[start:]
            last_ts = float(new_ts[-1])
            y, *state = model(torch.from_numpy(x)[None], *state)
            outlet.push_chunk(y[0].numpy(), new_ts.tolist())
    stream.disconnect()
