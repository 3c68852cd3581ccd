"""One ``bci-stream calibrate`` per exact set of arguments for the whole pytest run, shared by its xdist workers.

Several test files only need *a* model calibrated on the repository's subset (S001 R05/R06) with given flags, and
what calibrate said about it; they need not each calibrate it again. The first test that asks runs calibrate (the
command in a subprocess, or :func:`~bci_stream.train.classical.calibration.calibrate` in-process) into a folder
shared by the run's workers (:func:`support.run_cache.shared_folder`); every later test, in any worker, reads that
folder. The folder is keyed by the exact arguments, so two different argument sets never share a result. The
cached models are for reading only.

Tests of a flag's own behaviour (``--overwrite``, ``--no-recurrent``, a file format, ...) run their own calibrate.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.common import REPO, SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS
from support.run_cache import shared_folder

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
FISTS_FEET = {"T1": "fists", "T2": "feet"}


@dataclass(frozen=True)
class CliCalibration:
    """``bci-stream calibrate ... --out models`` run as a user types it, in a subprocess."""

    models: Path  # the registry folder it wrote (read only: copy it to change it)
    output: str  # its stdout + stderr
    returncode: int


def cli_calibration(tmp_path_factory: pytest.TempPathFactory, args: Sequence[str]) -> CliCalibration:
    """``python -m bci_stream calibrate *args --out MODELS --no-progress`` of this checkout (whatever the venv's
    editable install points at), one BLAS thread, run once per pytest run for these exact ``args``."""
    args = [str(a) for a in args]

    def make(folder: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        proc = subprocess.run([sys.executable, "-m", "bci_stream", "calibrate", *args, "--out",
                               str(folder / "models"), "--no-progress"],
                              capture_output=True, text=True, timeout=600, env=env, cwd=str(folder))
        (folder / "output.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        (folder / "returncode").write_text(str(proc.returncode))

    folder = shared_folder(tmp_path_factory, {"kind": "cli", "args": args}, make)
    return CliCalibration(folder / "models", (folder / "output.txt").read_text(encoding="utf-8"),
                          int((folder / "returncode").read_text()))


def default_cli_calibration(tmp_path_factory: pytest.TempPathFactory) -> CliCalibration:
    """`bci-stream calibrate R05 R06 --labels T1=fists,T2=feet --name s001-test` with every default (the ensemble
    of all candidates, the recurrent stage on): the model of tests/unit/train/test_calibrate.py."""
    return cli_calibration(tmp_path_factory, [subset_file(R05), subset_file(R06), "--labels", "T1=fists,T2=feet",
                                              "--name", "s001-test"])


def calibration(tmp_path_factory: pytest.TempPathFactory, paths: Sequence[Path], label_map: Mapping[str, str],
                name: str, **kwargs: Any) -> Any:
    """:func:`~bci_stream.train.classical.calibration.calibrate` ``(paths, label_map, name, MODELS, **kwargs)``,
    silent, run once per pytest run for these exact arguments; its
    :class:`~bci_stream.train.classical.calibration.CalibrationResult` (``model_dir`` in the shared folder: read
    only)."""
    key = {"kind": "calibrate", "paths": [str(p) for p in paths], "label_map": dict(label_map), "name": name,
           "kwargs": kwargs}

    def make(folder: Path) -> None:
        from bci_stream.train.classical.calibration import calibrate

        res = calibrate(list(paths), dict(label_map), name, folder / "models", progress=False, echo=lambda _: None,
                        **kwargs)
        (folder / "result.pkl").write_bytes(pickle.dumps(res))

    folder = shared_folder(tmp_path_factory, key, make)
    return pickle.loads((folder / "result.pkl").read_bytes())


def s001_pick(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """calibrate on S001 R05 + R06 (fists/feet) picking one decoder (``average=False``), the combined family
    considered (the default), no recurrent stage; on :data:`support.marked.FAST_CHANNELS` (what its users check is
    the families, rules and configs of a pick, not a 21-channel model; 4 s of CPU instead of 15)."""
    return calibration(tmp_path_factory, [subset_file(R05), subset_file(R06)], FISTS_FEET, "pick",
                       recurrent=False, average=False, channels=FAST_CHANNELS)
