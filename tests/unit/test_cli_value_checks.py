"""``replay`` and ``simulate`` refuse values their click types let through, naming the option, the rule and the value
(exit 2), before any stream is made: NaN (a ``FloatRange`` takes it), a speed of 1e-20 (``time.sleep`` overflowed:
traceback), inf (every sample one timestamp), a chunk size beyond a C int (pylsl: traceback), an empty name (liblsl:
"could not create stream description object"), 1e300 Hz ("Maximum allowed dimension exceeded"), a negative seed
(refused only after the banner). A missing file to replay names the data folder as calibrate and evaluate do
(found by an exploratory run, s27)."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import data_root as dr
from support.common import SUBSET_S001_21CH, subset_file

EDF = str(subset_file(SUBSET_S001_21CH / "S001R05.edf"))


@pytest.mark.parametrize("args, message", [
    (["replay", EDF, "--name", "x", "--speed", "1e-20"], "Invalid value for '--speed': 1e-20 is not in the range "
                                                         "0.001<=x<=1000."),
    (["replay", EDF, "--name", "x", "--speed", "inf"], "Invalid value for '--speed': inf is not in the range"),
    (["replay", EDF, "--name", "x", "--speed", "nan"], "Invalid value for '--speed': must be a finite number, got nan"),
    (["replay", EDF, "--name", ""], "Invalid value for '--name': must be a non-empty name, got ''"),
    (["replay", EDF, "--name", "x", "--wait-for-consumer", "nan"],
     "Invalid value for '--wait-for-consumer': must be a number of seconds (inf: no limit), got nan"),
    (["replay", EDF, "--name", "x", "--linger", "nan"], "Invalid value for '--linger': must be a number of seconds"),
    (["replay", EDF, "--name", "x", "--chunk-size", "99999999999999999999"],
     "Invalid value for '--chunk-size': 99999999999999999999 is not in the range 1<=x<=2147483647."),
    (["simulate", "--name", "x", "--chunk-size", "99999999999999999999"], "Invalid value for '--chunk-size'"),
    (["simulate", "--name", "x", "--chunk-size", "2147483647"],  # a MemoryError traceback (audit s66cli F17)
     "Invalid value for '--chunk-size': must be at most 60 s of samples (9600 at 160 Hz), got 2147483647"),
    (["simulate", "--name", "", "--duration", "1"], "Invalid value for '--name': must be a non-empty name, got ''"),
    (["simulate", "--name", "x", "--sfreq", "1e300"], "Invalid value for '--sfreq': 1e+300 is not in the range "
                                                      "60<=x<=100000."),
    (["simulate", "--name", "x", "--sfreq", "nan"], "Invalid value for '--sfreq': must be a finite number, got nan"),
    (["simulate", "--name", "x", "--duration", "nan"], "Invalid value for '--duration': must be a finite number"),
    (["simulate", "--name", "x", "--line-freq", "nan"], "Invalid value for '--line-freq': must be a finite number"),
    (["simulate", "--name", "x", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
    # names no stream selector takes (audit s66cli F4, F5): simulate announced "streaming" first and then named
    # `source_id`; replay took an empty source_id; a name with a tab or of 300 characters streamed, and no decoder or
    # recording could select it
    (["simulate", "--name", "x", "--source-id", ""], "Invalid value for '--source-id': must be a non-empty name"),
    (["replay", EDF, "--name", "x", "--source-id", " "], "Invalid value for '--source-id': must be a non-empty name"),
    (["simulate", "--name", "a\tb"], "Invalid value for '--name': must be printable text (no control characters) of "
                                     "1 to 248 characters, as a stream selector takes with room for the '-markers' "
                                     "of its marker stream, got 'a\\tb' (3 characters)"),
    (["replay", EDF, "--name", "n" * 300], "Invalid value for '--name': must be printable text"),
    # a player's name or source_id of 249-256 characters: its marker stream's name / source_id (+ '-markers') was
    # over 256, selectable by nothing (review s66 F4)
    (["replay", EDF, "--name", "n" * 249], "Invalid value for '--name': must be printable text (no control "
                                           "characters) of 1 to 248 characters"),
    (["simulate", "--name", "n" * 256], "Invalid value for '--name': must be printable text"),
    (["simulate", "--name", "x", "--source-id", "s" * 249], "Invalid value for '--source-id': must be printable"),
    (["replay", EDF, "--name", "x", "--source-id", "s" * 249], "Invalid value for '--source-id': must be printable"),
    (["record", "--stream", "a\tb", "--out", "x.xdf"], "Invalid value for '--stream': must be printable text"),
    (["record", "--stream", "x", "--marker-source-id", "", "--out", "x.xdf"],
     "Invalid value for '--marker-source-id': must be a non-empty name, got ''"),
])
def test_values_past_the_types_are_refused_naming_the_option(args: list[str], message: str) -> None:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "streaming" not in res.output and "replaying" not in res.output  # nothing started


def test_a_missing_file_to_replay_names_the_data_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "eegmmidb").mkdir()
    (tmp_path / "eegmmidb" / "S001R05.edf").write_bytes(subset_file(SUBSET_S001_21CH / "S001R05.edf").read_bytes())
    monkeypatch.setenv(dr.DATA_ENV, str(tmp_path))
    res = CliRunner().invoke(main, ["replay", "eegmmidb/S001R05.edf", "--name", "x"])
    assert res.exit_code == 2, res.output
    assert ("Invalid value for 'PATH': path does not exist or is not a file: eegmmidb/S001R05.edf (the data folder, "
            f"BCI_STREAM_DATA, holds {tmp_path / 'eegmmidb' / 'S001R05.edf'}: give that path)") in res.output


@pytest.mark.parametrize("args, message", [
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--channels", ""], "'--channels': must name "
     "at least one (a comma list such as A,B), got ''"),
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--channels", " , "], "'--channels'"),
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--bad-events", ""], "'--bad-events'"),
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--event-fields", ""], "'--event-fields'"),
    (["evaluate", "eegmmidb-s001", "--data", EDF, "--bad-events", ","], "'--bad-events': must name at least one"),
    (["evaluate", "eegmmidb-s001", "--data", EDF, "--event-fields", ""], "'--event-fields': must name at least one"),
])
def test_an_empty_list_option_is_refused_not_taken_as_not_given(args: list[str], message: str) -> None:
    """Before: ``--channels "$CHANS"`` with the variable unset calibrated on the default channels without a word."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and f"Invalid value for {message}" in res.output, res.output


@pytest.mark.parametrize("args, message", [
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--channels", "C3,,C4"], "'--channels': must "
     "be names separated by single commas (e.g. A,B), with no empty item; got 'C3,,C4'"),
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--channels", ",C3,C4"], "'--channels'"),
    (["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x", "--bad-events", "1023,,1024"],
     "'--bad-events'"),
    (["evaluate", "eegmmidb-s001", "--data", EDF, "--bad-events", "1023,,1024"], "'--bad-events': must be names "
     "separated by single commas"),
    (["evaluate", "eegmmidb-s001", "--data", EDF, "--decision-times", "0.5,,1"], "--decision-times: must be "
     "seconds separated by single commas (e.g. 0.5,1,2,3), with no empty item; got '0.5,,1'"),
])
def test_an_empty_item_inside_a_list_option_is_refused_as_in_labels(args: list[str], message: str) -> None:
    """Audit s52cal, finding 5: ``--labels T1=fists,,T2=feet`` was refused (an empty pair) while ``--channels C3,,C4``
    silently calibrated on two channels: a name left out (an unset variable) now gets the same refusal. A trailing
    comma is harmless in both."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and f"Invalid value for {message}" in res.output, res.output


def test_a_trailing_comma_is_harmless_in_a_list_option() -> None:
    from bci_stream.cli_checks import name_list

    assert name_list(None, None, "C3,C4,") == "C3,C4,"  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [
    ["calibrate", EDF, "--labels", "T1=fists,T2=feet", "--name", "x"],
    ["replay", EDF, "--name", "x"],
    ["evaluate", "eegmmidb-s001", "--data", EDF],
])
def test_an_empty_item_inside_channel_names_is_refused(command: list[str]) -> None:
    """``--channel-names Fp1,,Fp2`` dropped the empty item, so every name after it went to the wrong channel (and the
    count check named one channel too few): refused as the other name lists refuse it (review s52rev)."""
    res = CliRunner().invoke(main, [*command, "--channel-names", "Fp1,,Fp2"])
    assert res.exit_code != 0, res.output
    assert ("--channel-names must be channel names separated by single commas (e.g. Fp1,Fp2), with no empty item, "
            "or a file; got 'Fp1,,Fp2'") in res.output, res.output


@pytest.mark.parametrize("command", [["calibrate", EDF, "--labels", "T1=a,T2=b", "--name", "x"],
                                     ["evaluate", "eegmmidb-s001", "--data", EDF]])
def test_an_out_folder_that_is_a_file_is_one_line(tmp_path, command: list[str]) -> None:
    """Audit s64cal F6: ``--out`` naming an existing file got click's three-line usage error, unlike any other bad
    ``--out`` (one line naming the option, the path and what to do)."""
    afile = tmp_path / "afile"
    afile.write_text("")
    res = CliRunner().invoke(main, [*command, "--out", str(afile)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert [line.lower() for line in lines] == [f"error: --out {afile}: {afile} is a file, not a folder: give a "
                                                "folder".lower()], res.output


def every_command(group: click.Group, ctx: click.Context, path: str = "bci-stream"
                  ) -> Iterator[tuple[str, click.Command]]:
    """Each command of ``group`` (its lazy ones imported), by its path of names."""
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from every_command(cmd, click.Context(cmd, parent=ctx, info_name=name), f"{path} {name}")
        elif cmd is not None:
            yield f"{path} {name}", cmd


def test_no_option_of_any_command_takes_nan() -> None:
    """Every number-of-seconds or rate option of every command refuses NaN as a usage error naming it (click's
    ``FloatRange`` takes NaN: every comparison with it is false). Before (audit s66cli F1, F2): ``demo --duration nan``
    started the service and then crashed with a traceback; ``record --timeout nan`` searched forever and ``record
    --duration nan`` recorded "for nan s" until killed."""
    root = click.Context(main, info_name="bci-stream")
    checked, taken = [], []
    for path, cmd in every_command(main, root):
        ctx = click.Context(cmd, parent=root, info_name=path.rsplit(" ", 1)[-1])
        for param in cmd.params:
            if not isinstance(param.type, click.types.FloatParamType) or param.multiple or param.nargs != 1:
                continue
            checked.append(f"{path} {param.opts[0]}")
            try:
                param.process_value(ctx, "nan")
            except click.BadParameter:
                continue
            taken.append(f"{path} {param.opts[0]}")
    assert len(checked) >= 10, checked  # the walk found the options (replay's, simulate's, record's, demo's, ...)
    assert not taken, f"options that take nan: {taken}"


def test_no_path_of_any_command_takes_an_empty_value() -> None:
    """Every file or folder option and argument of every command refuses an empty value (``--out "$DIR"`` with
    ``DIR`` unset) as a usage error naming it. Before (audit s66cli F16), click took it for the working folder:
    evaluate, inspect and calibrate wrote there, ``models --models-dir ''`` listed it."""
    root = click.Context(main, info_name="bci-stream")
    checked, taken = [], []
    for path, cmd in every_command(main, root):
        ctx = click.Context(cmd, parent=root, info_name=path.rsplit(" ", 1)[-1])
        for param in cmd.params:
            if not isinstance(param.type, click.Path):
                continue
            checked.append(f"{path} {param.name}")
            try:
                param.type.convert("", param, ctx)
            except click.BadParameter as exc:
                assert "must be a path, not empty" in exc.message, exc.message
                continue
            taken.append(f"{path} {param.name}")
    assert len(checked) >= 15, checked
    assert not taken, f"paths that take '': {taken}"
