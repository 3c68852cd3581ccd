"""Models and input data for the end-to-end benchmarks.

* :func:`export_bench_gru`: a random-weight (fixed seed) :class:`~bci_stream.train.nets.rnn.CausalRNN` exported with
  the real exporter into the benchmark's own models folder, plus its torch state dict so the torch peer runs
  *the same model*.
* :func:`real_eeg_model`: the model trained on real EEG (``models/eegmmidb-*``, newest first) or, when it is
  not there, the bundled ``sim-mi-gru`` (same shape: 64 channels at 160 Hz); copied into the benchmark's
  models folder.
* :func:`real_eeg_samples`: real EEG for the player (PhysioNet EEGMMIDB S001R04 under ``$BCI_STREAM_DATA``, default
  ``../shared/data``; :func:`real_eeg_file`) in the card's channel order, or simulated EEG when
  ``BCI_STREAM_DATA`` is unset and the default folder has no such file (the report and the log say which,
  and how to point at the data).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.procs import REPO_ROOT

OUTPUT_LABELS = ["rest", "left_hand", "right_hand", "feet"]
BANDPASS = (8.0, 30.0)
#: The real EEG the player streams, under the data folder (:func:`bci_stream.io.data_root.data_root`).
REAL_EEG_PART = Path("eegmmidb") / "S001" / "S001R04.edf"
FALLBACK_MODEL = "sim-mi-gru"


@dataclass
class BenchModel:
    """A model in the benchmark's registry, and what the torch peer needs to run the same network."""

    ref: str
    n_chans: int
    sfreq: float
    ch_names: list[str]
    architecture: dict[str, Any]
    torch_config: dict[str, Any]
    """``CausalRNN`` constructor arguments."""
    state_dict: str | None
    """Path of the torch weights, or None when only the ONNX file exists (the peer then runs the same
    architecture with random weights: the same compute, other numbers)."""
    preprocessing: dict[str, Any]
    source: str
    notes: list[str] = field(default_factory=list)


#: A folder where :func:`export_bench_gru` keeps each model it exports (with its torch weights) and copies it from at
#: the next call with the same arguments, by any process (the test suite's benchmarks share one export): the export
#: is deterministic (fixed seed), so the copy is the model it would export. Unset: export at every call.
CACHE_ENV = "LATENCY_BENCH_MODEL_CACHE"


def export_bench_gru(models_dir: Path, n_chans: int, hidden_size: int, n_layers: int, sfreq: float,
                     cell: str = "gru", seed: int = 0, parity_samples: int = 50) -> BenchModel:
    """Export a random-weight causal RNN (8-30 Hz band-pass, CAR, unit standardisation) into ``models_dir`` (or copy
    it from ``$LATENCY_BENCH_MODEL_CACHE``, :data:`CACHE_ENV`)."""
    args = (n_chans, hidden_size, n_layers, sfreq, cell, seed, parity_samples)
    if not (cache := os.environ.get(CACHE_ENV)):
        return _export_bench_gru(models_dir, *args)
    import json
    import uuid
    from dataclasses import asdict

    kept = Path(cache) / "bench-gru-{}ch-h{}-l{}-{:g}hz-{}-seed{}-parity{}".format(*args)
    kept.parent.mkdir(parents=True, exist_ok=True)
    with _locked(kept.with_name(f".{kept.name}.lock")):  # one export; the processes that ask meanwhile wait for it
        if not (kept / "model.json").is_file():  # exported into a folder of its own, then renamed in place
            work = kept.with_name(f".{kept.name}-{uuid.uuid4().hex[:8]}")
            work.mkdir()
            (work / "model.json").write_text(json.dumps(asdict(_export_bench_gru(work, *args))), encoding="utf-8")
            work.rename(kept)
    bench = BenchModel(**json.loads((kept / "model.json").read_text(encoding="utf-8")))
    name, weights = bench.ref.split("@")[0], Path(str(bench.state_dict)).name
    shutil.copytree(kept / name, models_dir / name)
    shutil.copy2(kept / weights, models_dir / weights)
    bench.state_dict = str(models_dir / weights)
    return bench


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on file ``path`` between processes (``fcntl.flock``; none where there is no fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: two processes may then both export, the second rename fails loudly
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export_bench_gru(models_dir: Path, n_chans: int, hidden_size: int, n_layers: int, sfreq: float, cell: str,
                      seed: int, parity_samples: int) -> BenchModel:
    import torch

    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig

    name = f"bench-{cell}-{n_chans}ch-h{hidden_size}-l{n_layers}-{sfreq:g}hz"
    torch.manual_seed(seed)
    model = CausalRNN(n_chans, len(OUTPUT_LABELS), hidden_size=hidden_size, n_layers=n_layers, cell=cell).eval()
    pre = PreprocessingConfig(bandpass=BANDPASS, car=True, mean=[0.0] * n_chans, std=[1.0] * n_chans)
    ch_names = [f"E{i + 1}" for i in range(n_chans)]
    card = export_model(model, models_dir / name, name=name, version="1.0.0", ch_names=ch_names, sfreq=sfreq,
                        output_labels=OUTPUT_LABELS, preprocessing=pre, parity_samples=parity_samples,
                        training={"data": f"random weights (seed {seed}), latency benchmark"})
    weights = models_dir / f"{name}.torch.pt"
    torch.save(model.state_dict(), weights)
    return BenchModel(ref=card.ref, n_chans=n_chans, sfreq=sfreq, ch_names=ch_names,
                      architecture=card.architecture.model_dump(), torch_config=_torch_config(model),
                      state_dict=str(weights), preprocessing=pre.model_dump(),
                      source=f"random weights, seed {seed}")


def _torch_config(model: Any) -> dict[str, Any]:
    return dict(model.config())


def find_real_eeg_model(repo_models: Path = REPO_ROOT / "models") -> Path:
    """The folder of the newest recurrent ``eegmmidb-*`` model in the repository's registry, else ``sim-mi-gru``'s.

    Only recurrent models qualify: the torch peer runs the same architecture (a classical CSP+LDA or
    Riemannian model of the same data gets its row in the inference section instead).
    """
    from bci_stream.core.registry import ModelRegistry

    entries = [e for e in ModelRegistry(repo_models).list() if e.card.name.startswith("eegmmidb")
               and getattr(e.card.architecture, "family", "recurrent") == "recurrent"]
    if entries:
        return max(entries, key=lambda e: e.card.created).directory
    return repo_models / FALLBACK_MODEL


def real_eeg_model(models_dir: Path, source_dir: Path | None = None) -> BenchModel:
    """Copy the real-EEG model (see :func:`find_real_eeg_model`) into ``models_dir``; describe it."""
    from bci_stream.core.registry import read_card

    src = source_dir or find_real_eeg_model()
    dst = models_dir / src.name
    if not dst.exists():
        shutil.copytree(src, dst)
    card = read_card(dst / "model.json")
    arch = card.architecture.model_dump()
    sizes = arch.get("hidden_sizes") or [arch["hidden_size"]] * arch["n_layers"]
    cfg = {"n_chans": card.n_chans, "n_outputs": len(card.output.labels), "cell": arch["cell"],
           "head": card.output.kind, "hidden_sizes": sizes}
    if arch.get("power_filters"):
        cfg["power_filters"] = int(arch["power_filters"])
    notes = [f"model {card.ref} from {src}"]
    if card.name == FALLBACK_MODEL:
        notes.append("no models/eegmmidb-* model in the registry: used the bundled sim-mi-gru (same shape)")
    notes.append("torch peer: same architecture with random weights (the ONNX file has no torch weights); "
                 "the compute per sample is the same")
    return BenchModel(ref=card.ref, n_chans=card.n_chans, sfreq=card.sfreq, ch_names=list(card.ch_names),
                      architecture=arch, torch_config=cfg, state_dict=None,
                      preprocessing=card.preprocessing.model_dump(), source=str(src), notes=notes)


def real_eeg_file() -> Path | None:
    """The EEGMMIDB file the 160 Hz phase streams, or None when ``BCI_STREAM_DATA`` is unset and the default data
    folder lacks it (the benchmark then streams simulated EEG and says so).

    Raises
    ------
    ValueError
        When ``BCI_STREAM_DATA`` is set (real EEG was asked for) but the file is not under it.
    """
    from bci_stream.io.data_root import DATA_ENV, data_root, missing_data_hint

    path = data_root() / REAL_EEG_PART
    if path.is_file():
        return path
    if os.environ.get(DATA_ENV, "").strip():
        raise ValueError(f"{path} does not exist: {missing_data_hint()}; or unset {DATA_ENV} "
                         "to stream simulated EEG in the 160 Hz phase")
    return None


def real_eeg_samples(model: BenchModel, out_path: Path, seconds: float = 60.0) -> tuple[Path, str]:
    """Write ``[n, n_chans]`` float32 µV samples in the model's channel order to ``out_path`` (``.npy``).

    Real EEG (:func:`real_eeg_file`) when it is there and has the model's rate, else the built-in simulator.
    Returns the path and a description of the data (for a simulator, why, and how to point at the data).
    """
    from bci_stream.io.data_root import DATA_ENV, data_root

    n = int(seconds * model.sfreq)
    path = real_eeg_file()
    if path is None:
        why = (f"{data_root() / REAL_EEG_PART} not found; set {DATA_ENV} to the folder that holds eegmmidb/ "
               "for real EEG")
    else:
        from bci_stream.io.load import load_recording

        rec = load_recording(path, ch_names=model.ch_names)
        if rec.sfreq == model.sfreq:
            np.save(out_path, np.ascontiguousarray(rec.data[:, :n].T, dtype=np.float32))
            return out_path, f"PhysioNet EEGMMIDB {path.name} (real EEG, first {seconds:g} s)"
        why = f"{path} is at {rec.sfreq:g} Hz, model {model.ref} at {model.sfreq:g} Hz"
    from bci_stream.sim.eeg import SyntheticEEG

    sim = SyntheticEEG(n_chans=model.n_chans, sfreq=model.sfreq, seed=0, ch_names=model.ch_names)
    np.save(out_path, np.ascontiguousarray(sim.generate(n)[0], dtype=np.float32))
    return out_path, f"simulated EEG ({why})"
