"""``evaluate`` and ``calibrate`` read the service's settings (the registry's folder, the in-process service's): a bad
one is a usage error of one line naming the variable, the rule and the value, as ``serve`` says it (audit s66cli F7:
``evaluate`` showed a pydantic traceback, ``calibrate`` a raw pydantic dump over four lines)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import REPO, SUBSET_S001_21CH, subset_file

EDF = str(subset_file(SUBSET_S001_21CH / "S001R05.edf"))


@pytest.mark.parametrize("args, variable, value", [
    # a registry name: the registry's folder is a setting
    (["evaluate", "eegmmidb-s001-gru", "--data", EDF], "BCI_STREAM_PORT", "abc"),
    # the in-process service's settings
    (["evaluate", "eegmmidb-s001-gru", "--models-dir", str(REPO / "models"), "--data", EDF, "--live"],
     "BCI_STREAM_WORKER", "dedicatd"),
    # no --out: the registry's folder
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "bad-setting"], "BCI_STREAM_PORT", "abc"),
], ids=["evaluate", "evaluate-live", "calibrate"])
def test_a_bad_setting_is_one_line_naming_it(args: list[str], variable: str, value: str) -> None:
    res = CliRunner().invoke(main, args, env={variable: value})
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "pydantic.dev" not in res.output and "validation error" not in res.output
    assert f"environment variable {variable}" in res.output and repr(value) in res.output, res.output
