"""Train the bundled demo model on simulator output and export it to ``models/``. Needs ``train``.

The simulator (:class:`bci_stream.sim.eeg.SyntheticEEG`) produces cued motor-imagery trials with
class-dependent mu/beta desynchronisation; a small causal GRU learns to decode them sample by sample.
Training and validation data come from *different* seeds (independent recordings), so nothing leaks.

Run: ``python -m bci_stream.train.bundled --out models/sim-mi-gru`` (``make bundled-model``; 3 to 5 minutes on a
shared 2-core machine). With the default arguments it writes the bundled model byte for byte on the same machine
and torch version (the same ONNX sha256 on every run: seeded data, seeded torch, 2 threads); the card's ``created``
and ``training.seconds`` differ. Another CPU or torch may round differently: then it makes a comparable model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bci_stream.train.export.onnx_export import export_model
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor
from bci_stream.sim.eeg import SyntheticEEG

SFREQ = 160.0
N_CHANS = 64
BANDPASS = (8.0, 30.0)
#: The bundled model's version: bump it whenever a change here changes the model (its ONNX sha256), so two
#: different models are never both ``sim-mi-gru@VERSION`` in a registry, a status or a recording.
VERSION = "1.0.1"  # 1.0.0 came from an earlier trainer (card upgraded from format 1); 1.0.1 is this script's
#: The ONNX sha256 of the shipped ``sim-mi-gru@1.0.1``: this script's defaults, on the machine and torch that made it.
SHIPPED_SHA256 = "23f8a87ed750c724e4a29555aee157cf98f3020d783ee035bb2d529dbe7e7f99"


def built_version(sha256: str) -> str:
    """The version of a model this script exported as :data:`VERSION` with ONNX sha256 ``sha256``: :data:`VERSION` when
    it is the shipped model, else ``VERSION+<sha256[:12]>`` (another CPU or torch rounds differently, or other
    settings: another model, never named as the shipped one; audit s67readme F1)."""
    return VERSION if sha256 == SHIPPED_SHA256 else f"{VERSION}+{sha256[:12]}"


def make_recording(seed: int, minutes: float) -> tuple[np.ndarray, np.ndarray, list[str], list[str], SyntheticEEG]:
    """Simulated EEG ``x[T, C]`` (µV), per-sample labels, channel names, label names."""
    sim = SyntheticEEG(n_chans=N_CHANS, sfreq=SFREQ, seed=seed)
    x, y = sim.generate(int(minutes * 60 * SFREQ))
    return x, y, sim.ch_names, sim.label_names, sim


def fit_preprocessing(x: np.ndarray, ch_names: list[str]) -> PreprocessingConfig:
    """Filter + CAR on training data, then standardisation statistics from it."""
    base = PreprocessingConfig(bandpass=BANDPASS, filter_order=4, car=True)
    z = Preprocessor(base, len(ch_names), SFREQ).process(x)
    skip = int(2 * SFREQ)  # leave out the filter's start-up
    return base.model_copy(update={"mean": z[skip:].mean(0).tolist(), "std": z[skip:].std(0).tolist()})


def contiguous_batches(z: np.ndarray, y: np.ndarray, n_streams: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut one long recording into ``n_streams`` contiguous parallel streams ``[B, T', C]``."""
    t = len(z) // n_streams
    zb = z[: t * n_streams].reshape(n_streams, t, -1)
    yb = y[: t * n_streams].reshape(n_streams, t)
    return torch.from_numpy(np.ascontiguousarray(zb)), torch.from_numpy(np.ascontiguousarray(yb))


def evaluate(model: CausalRNN, z: np.ndarray, y: np.ndarray, onsets: list[int], trial_s: float) -> dict:
    """Per-sample accuracy over the continuous recording, and trial accuracy at fixed times after cue."""
    with torch.no_grad():
        p = model(torch.from_numpy(z)[None])[0][0].numpy()
    pred = p.argmax(1)
    out = {"sample_accuracy": float((pred == y).mean())}
    for after in (0.5, 1.0, 2.0, 3.0):
        idx = [o + int(after * SFREQ) for o in onsets if o + int(trial_s * SFREQ) < len(y)]
        if idx:
            out[f"trial_accuracy_{after:g}s"] = float(np.mean([pred[i] == y[i] for i in idx]))
    return out


def train(out_dir: Path, minutes: float = 12.0, epochs: int = 25, hidden_size: int = 32, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(2)
    t_start = time.monotonic()
    x_tr, y_tr, ch_names, labels, _ = make_recording(seed=1000 + seed, minutes=minutes)
    x_va, y_va, _, _, sim_va = make_recording(seed=2000 + seed, minutes=3.0)
    onsets_va = [i for i, _ in sim_va.pop_events()]
    pre_cfg = fit_preprocessing(x_tr, ch_names)
    z_tr = Preprocessor(pre_cfg, N_CHANS, SFREQ).process(x_tr)
    z_va = Preprocessor(pre_cfg, N_CHANS, SFREQ).process(x_va)

    model = CausalRNN(N_CHANS, len(labels), hidden_size=hidden_size, n_layers=1, cell="gru")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    zb, yb = contiguous_batches(z_tr, y_tr, n_streams=16)
    window = int(2 * SFREQ)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        model.train()
        state = model.zero_state(zb.shape[0])
        total = 0.0
        for start in range(0, zb.shape[1] - window + 1, window):
            logits, state = model.encode(zb[:, start : start + window], *state)
            state = tuple(s.detach() for s in state)  # truncated BPTT: carry the state, not the graph
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), yb[:, start : start + window].reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item()
        model.eval()
        metrics = evaluate(model, z_va, y_va, onsets_va, 4.0)
        print(f"epoch {epoch + 1:2d}/{epochs}  train loss {total:.2f}  val sample acc "
              f"{metrics['sample_accuracy']:.3f}  trial acc @2s {metrics.get('trial_accuracy_2s', float('nan')):.3f}",
              flush=True)
        if metrics["sample_accuracy"] > best:
            best, best_state = metrics["sample_accuracy"], {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    metrics = evaluate(model, z_va, y_va, onsets_va, 4.0)
    metrics["chance_sample_accuracy"] = float(np.bincount(y_va).max() / len(y_va))
    fields = dict(
        name=out_dir.name, ch_names=ch_names, sfreq=SFREQ, output_labels=labels, preprocessing=pre_cfg,
        training={
            "data": "bci-stream simulator (SyntheticEEG), 64 ch, 160 Hz, cued left hand / right hand / feet "
                    "motor imagery with mu/beta ERD over C4 / C3 / Cz",
            "train": {"seed": 1000 + seed, "minutes": minutes}, "validation": {"seed": 2000 + seed, "minutes": 3.0},
            "method": "truncated BPTT, 16 contiguous streams, 2 s windows, AdamW lr 3e-3, grad clip 1.0, "
                      f"{epochs} epochs, best validation epoch kept",
            "script": "python -m bci_stream.train.bundled", "seconds": round(time.monotonic() - t_start, 1),
        },
        metrics=metrics,
    )
    with tempfile.TemporaryDirectory() as tmp:  # its bytes as VERSION first: the shipped model's, or another's?
        probe = export_model(model, Path(tmp) / out_dir.name, version=VERSION, **fields)
    if (version := built_version(probe.sha256)) != VERSION:
        print(f"note: this build (sha256 {probe.sha256[:12]}) is not the shipped {probe.name}@{VERSION} (sha256 "
              f"{SHIPPED_SHA256[:12]}): another CPU, torch or settings; written as {probe.name}@{version}", flush=True)
    card = export_model(model, out_dir, version=version, **fields)
    print(json.dumps({"model": card.ref, "sha256": card.sha256, "metrics": metrics}, indent=2))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("models/sim-mi-gru"))
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.out, args.minutes, args.epochs, args.hidden_size, args.seed)


if __name__ == "__main__":
    main()
