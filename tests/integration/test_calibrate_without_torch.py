"""Audit s46 (reproducibility S7): ``calibrate`` needed the ``train`` extra, which pins torch (several GB from PyPI),
though its classical decoders need none. The ``calibrate`` extra installs what it needs without torch. Here calibrate
runs in a fresh interpreter where torch cannot be imported, on the repository's S001 subset: a model, exit 0, and
the report says why the residual GRU candidate was not tried."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from bci_stream.core.registry import ModelRegistry
from support.common import REPO, SUBSET_S001_21CH
from support.marked import FAST_CHANNELS

#: ``python -c``: a finder first on ``sys.meta_path`` refuses torch as an install without it would (nothing of it is
#: in ``sys.modules``, so libraries that look there for it see none), then the command line runs as ``bci-stream``
NO_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
sys.argv[0] = "bci-stream"
from bci_stream.cli import main
main()
"""


def test_the_calibrate_extra_has_no_torch_and_train_has_it_all() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {key: {req.split("[")[0].split(">")[0].split("=")[0] for req in reqs} for key, reqs in extras.items()}
    assert "torch" not in names["calibrate"] and "matplotlib" not in names["calibrate"]
    assert {"onnx", "scikit-learn", "tqdm", "pyriemann"} <= names["calibrate"], names["calibrate"]
    assert "bci-stream[calibrate]" in extras["train"] and "torch==2.13.0" in extras["train"]


def test_calibrate_without_torch_ships_a_classical_model_and_says_why_no_gru(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-c", NO_TORCH, "calibrate",
                          *(str(SUBSET_S001_21CH / f"S001R{r}.edf") for r in ("05", "06", "09")),
                          "--labels", "T1=fists,T2=feet", "--name", "s01", "--out", str(tmp_path), "--no-average",
                          "--no-combined", "--channels", ",".join(FAST_CHANNELS), "--no-progress"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    card = ModelRegistry(tmp_path).get("s01").card
    # CSP+LDA chosen, so the residual GRU's turn comes and its import fails (before: without --no-combined this
    # subset chose csp_riemann, the GRU was never tried for that, and the torch check below was skipped)
    assert card.architecture.family == "csp_lda", card.architecture.family
    report = json.loads((tmp_path / "s01" / "report" / "report.json").read_text())
    why = report["recurrent"]["why"]
    assert report["recurrent"]["tried"] is False and why.startswith("not tried: the residual GRU needs torch"), why
