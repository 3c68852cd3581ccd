"""Names, data and tiny models shared by the tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from bci_stream.io.data_root import data_root

#: The repository's root.
REPO = Path(__file__).resolve().parents[2]

# --- real EEG: where each file comes from ---------------------------------------------------------------
# Two sources. Tests use the small subset in the repository whenever it is enough, so `make test` passes on
# a fresh clone; tests that need more call `require_full_data(path)`, which skips (naming the missing
# path) when the full set is absent, and fails instead when BCI_STREAM_REQUIRE_DATA=1 (what `.ci/run` sets).

#: The small real subset shipped with the repository (tests/data/README.md: licence, citation, derivation).
TEST_DATA = REPO / "tests" / "data"
#: PhysioNet EEGMMIDB S001R06 (imagined fists/feet), the original EDF, byte-identical (64 ch, 160 Hz, 125 s).
SUBSET_S001 = TEST_DATA / "eegmmidb" / "S001"
SUBSET_R06 = SUBSET_S001 / "S001R06.edf"
#: EEGMMIDB S001 R05/R06/R09/R10 (executed/imagined fists vs feet), full length, only the 21 sensorimotor
#: channels FC5..CP6 (EDF+, the original digital samples and scaling, annotations T0/T1/T2 unchanged).
SUBSET_S001_21CH = TEST_DATA / "eegmmidb" / "S001-21ch"
#: The full real data set (``../shared/data`` beside the repository); ``BCI_STREAM_DATA`` overrides it.
SHARED_DATA = data_root()
#: Set to 1 (CI does) to turn every "full data set absent" skip into a failure.
REQUIRE_DATA_ENV = "BCI_STREAM_REQUIRE_DATA"


def data_required() -> bool:
    """True when ``BCI_STREAM_REQUIRE_DATA`` is set to 1/true/yes: a missing full data set is a failure."""
    return os.environ.get(REQUIRE_DATA_ENV, "").strip().lower() in ("1", "true", "yes")


def require_full_data(*paths: Path | str) -> Path:
    """Skip the calling test (or module) unless every path of the full data set exists; return the first.

    With ``BCI_STREAM_REQUIRE_DATA=1`` a missing path fails the test instead, with the same message, so a
    CI run that has the data can never pass by skipping. Call it in a test, a fixture or at module level.
    """
    import pytest

    if not paths:
        raise ValueError("paths must name at least one file or folder of the full data set; got none")
    missing = [Path(p) for p in paths if not Path(p).exists()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        msg = (f"full real data set needed: {missing[0]} is missing{more}; provide ../shared/data beside the "
               f"repository or set BCI_STREAM_DATA (the subset in tests/data is not enough for this test)")
        if data_required():
            pytest.fail(f"{msg}; {REQUIRE_DATA_ENV}=1 forbids skipping", pytrace=False)
        pytest.skip(msg, allow_module_level=True)
    return Path(paths[0])


def subset_file(path: Path | str) -> Path:
    """A file of the repository's subset (tests/data); fails, naming it, when it is missing."""
    path = Path(path)
    if not path.exists():
        import pytest

        pytest.fail(f"test data missing from the repository: {path} (regenerate with "
                    f"python tests/data/make_subset.py, see tests/data/README.md)", pytrace=False)
    return path
TINY_CH_NAMES = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "Pz"]
TINY_SFREQ = 500.0


def unique(prefix: str = "test") -> str:
    """A stream name no other test (or a parallel CI run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def export_tiny(out_dir: Path, name: str, cell: str = "gru", seed: int = 0, head: str = "categorical",
                n_layers: int = 2, hidden_size: int = 16, unit: str = "microvolts") -> None:
    """A small random-weight model for 8 channels at 500 Hz, with every preprocessing stage on; ``unit``: the unit
    its card (and graph metadata) says it reads its input in."""
    import torch

    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig

    torch.manual_seed(seed)
    n_out = 3
    model = CausalRNN(len(TINY_CH_NAMES), n_out, hidden_size=hidden_size, n_layers=n_layers, cell=cell, head=head)
    rng = np.random.default_rng(seed)
    pre = PreprocessingConfig(
        bandpass=(1.0, 40.0), notch=50.0, car=True,
        mean=rng.normal(0, 0.1, len(TINY_CH_NAMES)).tolist(),
        std=rng.uniform(5, 15, len(TINY_CH_NAMES)).tolist(),
    )
    export_model(model, out_dir / name, name=name, version="1.0.0", ch_names=TINY_CH_NAMES, sfreq=TINY_SFREQ,
                 output_labels=["rest", "left", "right"], preprocessing=pre, unit=unit,
                 training={"data": "random weights, test fixture"})


def test_signal(n: int, seed: int = 0, n_chans: int = len(TINY_CH_NAMES)) -> np.ndarray:
    """Known EEG-like samples in µV: offsets, 10 Hz, 50 Hz and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / TINY_SFREQ
    x = 20 * rng.standard_normal((n, n_chans)) + 40 * np.sin(2 * np.pi * 10 * t)[:, None]
    x += 10 * np.sin(2 * np.pi * 50 * t)[:, None] + rng.uniform(-500, 500, n_chans)
    return x.astype(np.float32)


test_signal.__test__ = False  # a helper, not a test
