"""An output folder that cannot be made or written is refused before a command's work (found by an exploratory run:
calibrate fitted for 18 s, then ended in a NotADirectoryError traceback; train, evaluate and inspect likewise)."""

from __future__ import annotations

from click.testing import CliRunner

from bci_stream.core.out_folder import out_folder_problem
from support.common import SUBSET_R06, subset_file


def test_a_file_on_the_way_or_an_unwritable_place_is_said_and_nothing_is_made(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert out_folder_problem(tmp_path / "afile" / "sub" / "run", "--out") == (
        f"--out {tmp_path / 'afile' / 'sub' / 'run'}: {tmp_path / 'afile'} is a file, not a folder: give a folder")
    assert out_folder_problem("/proc/self/out", "--out").startswith("--out /proc/self/out: cannot write in /proc/self")
    assert out_folder_problem(tmp_path / "new" / "deeper", "--out") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the probe left nothing, made nothing


def test_calibrate_and_evaluate_refuse_it_before_any_work(tmp_path):
    from bci_stream.cli import main

    (tmp_path / "afile").write_text("x")
    r06 = str(subset_file(SUBSET_R06))
    bad = str(tmp_path / "afile" / "models")
    res = CliRunner().invoke(main, ["calibrate", r06, "--labels", "T1=fists,T2=feet", "--name", "z", "--out", bad,
                                    "--no-progress"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().splitlines() == [f"error: --out {bad}: {tmp_path / 'afile'} is a file, not a folder: "
                                               "give a folder"]  # nothing loaded nor fitted first
    res = CliRunner().invoke(main, ["evaluate", "eegmmidb-s001", "--data", r06, "--out", bad])
    assert res.exit_code == 2 and f"--out {bad}: {tmp_path / 'afile'} is a file, not a folder" in res.output
    assert " file(s): " not in res.output  # refused before decoding
