"""Bad settings are reported as the user set them: the flag, the environment variable, the .env file or the config
file's key, the rule and the value, one line each; never the token's value. ``bci-stream serve`` exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bci_stream.core.settings import ConfigFileError
from bci_stream.core.settings_errors import SettingsError, load_settings

TOKEN = "s3cr3t"  # 6 characters: too short, and must never be printed


def _error(**flags) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(**flags)
    return str(info.value)


def test_environment_variable_is_named_with_rule_and_value(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_WORKER", "dedicatd")
    assert _error() == ("environment variable BCI_STREAM_WORKER: Input should be 'dedicated' or 'shared'; "
                        "got 'dedicatd'")


def test_token_value_is_never_shown(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_TOKEN", TOKEN)
    message = _error()
    assert message.startswith("environment variable BCI_STREAM_TOKEN: String should have at least 8 characters")
    assert "6 characters (not shown)" in message and TOKEN not in message


def test_one_line_per_bad_value_each_from_its_source(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = clean / "bci.toml"
    config.write_text(f'max_restarts = -1\ntoken = "{TOKEN}"\nport = 8100\n', encoding="utf-8")
    (clean / ".env").write_text("BCI_STREAM_STATUS_INTERVAL=9\n", encoding="utf-8")
    monkeypatch.setenv("bci_stream_log_level", "loud")  # the variables are case-insensitive: named as set
    lines = _error(config=config, host=None).splitlines()
    assert len(lines) == 4, lines
    by_origin = {line.split(": ", 1)[0]: line for line in lines}
    assert set(by_origin) == {"environment variable bci_stream_log_level", "BCI_STREAM_STATUS_INTERVAL in the env "
                              "file '.env'", f"config file '{config}'"}, lines
    assert any("key 'max_restarts'" in line and line.endswith("; got -1") for line in lines)
    assert any("key 'token'" in line and "(not shown)" in line for line in lines)
    assert by_origin["BCI_STREAM_STATUS_INTERVAL in the env file '.env'"].endswith("less than or equal to 5; got '9'")
    assert TOKEN not in "\n".join(lines)


def test_a_flag_wins_and_is_named(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_PORT", "70000")
    assert load_settings(port=8100).port == 8100          # the flag overrides the bad variable
    assert _error(status_interval=0, port=8100) == "--status-interval: Input should be greater than 0; got 0"


def test_config_file_errors_pass_through(clean: Path) -> None:
    (clean / "bad.toml").write_text("prot = 1\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match="unknown key 'prot'"):
        load_settings(config=clean / "bad.toml")


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cli = str(Path(sys.executable).with_name("bci-stream"))
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("BCI_STREAM_")}
    return subprocess.run([cli, "serve", "--port", "0", *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=60)


def test_serve_reports_environment_errors_and_exits_2(tmp_path: Path) -> None:
    """The audit's commands: BCI_STREAM_TOKEN=short, BCI_STREAM_WORKER=dedicatd (both at once here)."""
    proc = _serve({"BCI_STREAM_TOKEN": TOKEN, "BCI_STREAM_WORKER": "dedicatd"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "Error: environment variable BCI_STREAM_TOKEN: String should have at least 8 characters" in err
    assert "\nenvironment variable BCI_STREAM_WORKER: Input should be 'dedicated' or 'shared'; got 'dedicatd'" in err
    assert TOKEN not in proc.stdout + err
    assert "validation error" not in err and "pydantic" not in err and "Traceback" not in err


def test_show_reports_a_bad_token_without_its_value(clean: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from bci_stream.core.settings import main

    monkeypatch.setenv("BCI_STREAM_TOKEN", TOKEN)
    with pytest.raises(SystemExit) as info:
        main(["--show"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "environment variable BCI_STREAM_TOKEN" in err and TOKEN not in err


# -- found by an exploratory run: an env file line dotenv skips, a misspelt variable, values no client can send ----

def test_an_env_file_line_that_cannot_be_parsed_is_refused_without_its_value(clean: Path) -> None:
    """python-dotenv skips such a line with a warning: the token on it was dropped and serve ran open to anyone."""
    (clean / ".env").write_text(f'BCI_STREAM_PORT=8100\nBCI_STREAM_TOKEN="{TOKEN}-long\n', encoding="utf-8")
    message = _error()
    assert message == ("the env file '.env', line 2: cannot be parsed as NAME=value (e.g. a quote not closed, or "
                       "no '='): fix or remove it (python-dotenv would skip it: a token there would leave the API "
                       "open)")
    (clean / ".env").write_bytes(b"BCI_STREAM_PORT=8100\nBCI_STREAM_WORKER=d\xe9dicated\n")  # latin-1
    assert _error() == "the env file '.env' is not UTF-8 text: byte 0xe9 on line 2 (save it as UTF-8)"


def test_a_misspelt_variable_is_refused_naming_the_setting_meant(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text("BCI_STREAM_TOKN=abcdefghij\nBCI_STREAM_DATA=/data\nBCI_STREAM_X=1\n",
                                encoding="utf-8")
    hint = "(every setting and its variable: the configuration reference in deploy/README.md)"
    assert _error() == f"BCI_STREAM_TOKN in the env file '.env' is not a setting: did you mean BCI_STREAM_TOKEN? {hint}"
    (clean / ".env").unlink()
    monkeypatch.setenv("BCI_STREAM_MODEL_DIR", "/models")
    assert _error() == ("environment variable BCI_STREAM_MODEL_DIR is not a setting: did you mean "
                        f"BCI_STREAM_MODELS_DIR? {hint}")
    monkeypatch.delenv("BCI_STREAM_MODEL_DIR")
    monkeypatch.setenv("BCI_STREAM_DATA", "/data")  # the trainer's: not a setting, and no typo of one
    monkeypatch.setenv("BCI_STREAM_SOMETHING_ELSE", "1")  # another tool's, far from any setting
    assert load_settings().port == 8000


def test_values_no_client_can_send_or_that_are_not_finite_are_refused(clean: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for token in ("  abcdefgh  ", "abc defghij", "pässwörd-123"):
        monkeypatch.setenv("BCI_STREAM_TOKEN", token)
        message = _error()
        assert message == ("environment variable BCI_STREAM_TOKEN: Value error, must be visible ASCII characters "
                           "without spaces (a client sends it in the header 'Authorization: Bearer <token>'); got a "
                           f"value of {len(token)} characters (not shown)")
    monkeypatch.setenv("BCI_STREAM_TOKEN", "abc-DEF_123.~+/=")
    assert load_settings().token == "abc-DEF_123.~+/="
    monkeypatch.delenv("BCI_STREAM_TOKEN")
    monkeypatch.setenv("BCI_STREAM_STATUS_INTERVAL", "nan")  # before: "should be less than or equal to 5"
    assert _error() == "environment variable BCI_STREAM_STATUS_INTERVAL: Input should be a finite number; got 'nan'"
    monkeypatch.delenv("BCI_STREAM_STATUS_INTERVAL")
    monkeypatch.setenv("BCI_STREAM_LOG_LEVEL", "LOUD")  # said as given (before: 'loud')
    assert _error().endswith("; got 'LOUD'")
    monkeypatch.setenv("BCI_STREAM_LOG_LEVEL", " Debug ")
    assert load_settings().log_level == "debug"


def test_a_config_file_that_is_not_utf8_is_one_error(clean: Path) -> None:
    (clean / "latin1.toml").write_bytes(b"port = 8100\n# caf\xe9\n")
    with pytest.raises(ConfigFileError, match=r"^config file '.*latin1.toml' is not UTF-8 text \(TOML is\): byte 0xe9 "
                                              r"at offset 17; save it as UTF-8$"):
        load_settings(config=clean / "latin1.toml")
