"""Settings: precedence of arguments, environment, .env and the TOML config file; errors that name the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bci_stream.core.settings import ConfigFileError, Settings, env_var, main, read_config_file
from support.common import REPO


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(clean: Path) -> None:
    s = Settings()
    assert (s.host, s.port, s.token, s.config) == ("127.0.0.1", 8000, None, None)
    assert (s.status_interval, s.max_restarts, s.restart_backoff) == (0.25, 3, 0.5)
    assert (s.max_request_bytes, s.log_level) == (1_000_000, "info")
    assert (s.max_decoders, s.max_recordings, s.max_ws_clients, s.max_record_channels) == (64, 64, 128, 1024)
    assert (s.http_max_connections, s.http_header_timeout_s) == (512, 10.0)
    assert s.client_url == "http://127.0.0.1:8000"
    assert s.recordings_dir == Path.cwd() / "recordings"


def test_precedence_init_env_dotenv_config_default(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each layer sets one setting fewer than the layer below it, so each setting shows which layer won.
    config = write(clean / "bci.toml", 'port = 1001\nstatus_interval = 1.0\nmax_restarts = 11\nlog_level = "debug"\n')
    write(clean / ".env", "BCI_STREAM_PORT=1002\nBCI_STREAM_STATUS_INTERVAL=2.0\nBCI_STREAM_MAX_RESTARTS=12\n"
                          f"BCI_STREAM_CONFIG={config}\n")
    monkeypatch.setenv("BCI_STREAM_PORT", "1003")
    monkeypatch.setenv("BCI_STREAM_STATUS_INTERVAL", "3.0")

    s = Settings(port=1004)
    assert s.port == 1004                  # argument
    assert s.status_interval == 3.0        # environment
    assert s.max_restarts == 12            # .env
    assert s.log_level == "debug"          # config file (selected in .env)
    assert s.restart_backoff == 0.5        # default
    assert s.config == config

    assert Settings().port == 1003
    monkeypatch.delenv("BCI_STREAM_PORT")
    assert Settings().port == 1002
    (clean / ".env").unlink()
    assert Settings().port == 8000         # the config file was selected in the .env that is gone
    assert Settings(config=config).port == 1001


def test_config_file_from_environment_and_argument(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write(clean / "a.toml", "port = 2001\n")
    b = write(clean / "b.toml", "port = 2002\n")
    monkeypatch.setenv("BCI_STREAM_CONFIG", str(a))
    assert Settings().port == 2001
    assert Settings(config=b).port == 2002          # the argument selects the file over the environment
    assert Settings(_env_file=None).port == 2001    # the environment alone is enough


def test_env_file_path_can_be_chosen(clean: Path) -> None:
    env = write(clean / "elsewhere.env", "BCI_STREAM_HOST=0.0.0.0\nUNRELATED=1\n")
    s = Settings(_env_file=env)
    assert s.host == "0.0.0.0"
    assert s.client_url == "http://127.0.0.1:8000"   # a wildcard bind is reached on loopback
    assert Settings(host="::", port=9).client_url == "http://[::1]:9"


def test_config_relative_models_dir_is_relative_to_the_file(clean: Path) -> None:
    folder = clean / "etc"
    folder.mkdir()
    config = write(folder / "bci.toml", 'models_dir = "models"\n')
    assert Settings(config=config).models_dir == folder.resolve() / "models"
    write(config, 'models_dir = "/srv/models"\n')
    assert Settings(config=config).models_dir == Path("/srv/models")


def test_a_home_folder_path_is_expanded_from_every_source(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``~`` in a config file or an env file (systemd's ``EnvironmentFile=`` does not expand it) was kept: the
    recordings went to a folder named ``~`` under the service's working directory, the models were "not found"."""
    monkeypatch.setenv("HOME", str(clean / "home"))
    config = write(clean / "bci.toml", 'recordings_dir = "~/rec"\nmodels_dir = "~/models"\n')
    s = Settings(config=config)
    assert (s.recordings_dir, s.models_dir) == (clean / "home" / "rec", clean / "home" / "models")
    monkeypatch.setenv("BCI_STREAM_MODELS_DIR", "~/m")
    assert Settings().models_dir == clean / "home" / "m"


def test_a_relative_folder_from_a_flag_or_the_environment_is_made_absolute_at_start(
        clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit s68multi F1: `serve --backend ray --models-dir ../models` started decoders (their model sent as bytes),
    but every hot swap was "model not found in ../models": the Ray actor looked for it from a folder of its own."""
    work = clean / "lab" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    s = Settings(models_dir="../models", recordings_dir="rec")
    assert (s.models_dir, s.recordings_dir) == (clean / "lab" / "models", work / "rec")
    monkeypatch.setenv("BCI_STREAM_RECORDINGS_DIR", "./r")
    assert Settings().recordings_dir == work / "r"


@pytest.mark.parametrize(("text", "needles"), [
    ("prot = 9000\n", ["unknown key 'prot'", "port", "models_dir"]),
    ('config = "other.toml"\n', ["key 'config' is not allowed", "BCI_STREAM_CONFIG"]),
    ("port = \n", ["not valid TOML", "line 1"]),
    # a TOML boolean for a number: pydantic took it as 1 or 0 (port 1; max_restarts 0: no restarts), though the
    # same "true" from the environment is refused
    ("port = true\n", ["key 'port' must be an integer, got the boolean true"]),
    ("max_restarts = false\n", ["key 'max_restarts' must be an integer, got the boolean false"]),
    ("status_interval = true\n", ["key 'status_interval' must be a number, got the boolean true"]),
    ("worker = true\n", ["key 'worker' must be one of 'dedicated', 'shared', got the boolean true"]),
])
def test_config_file_errors_name_the_file_and_the_key(clean: Path, text: str, needles: list[str]) -> None:
    config = write(clean / "bad.toml", text)
    with pytest.raises(ConfigFileError) as info:
        Settings(config=config)
    message = str(info.value)
    assert str(config) in message
    for needle in needles:
        assert needle in message


def test_missing_config_file_is_an_error(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_CONFIG", str(clean / "nope.toml"))
    with pytest.raises(ConfigFileError, match=r"nope\.toml.*BCI_STREAM_CONFIG.*does not exist"):
        Settings()


@pytest.mark.parametrize(("source", "name", "value", "rule"), [
    ("env", "port", "70000", "less than or equal to 65535"),
    ("env", "status_interval", "0", "greater than 0"),
    ("env", "log_level", "loud", "'critical', 'error', 'warning', 'info', 'debug' or 'trace'"),
    ("env", "token", "short", "at least 8 characters"),
    ("config", "max_restarts", "-1", "greater than or equal to 0"),
    ("config", "max_request_bytes", "100", "greater than or equal to 1024"),
    ("env", "max_decoders", "0", "greater than or equal to 1"),
    ("env", "max_recordings", "0", "greater than or equal to 1"),
    ("config", "max_ws_clients", "0", "greater than or equal to 1"),
    ("config", "max_record_channels", "-3", "greater than or equal to 1"),
])
def test_bad_value_names_the_setting(clean: Path, monkeypatch: pytest.MonkeyPatch, source: str, name: str,
                                     value: str, rule: str) -> None:
    if source == "env":
        monkeypatch.setenv(env_var(name), value)
        kwargs = {}
    else:
        kwargs = {"config": write(clean / "c.toml", f"{name} = {value}\n")}
    with pytest.raises(ValidationError) as info:
        Settings(**kwargs)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [(name,)]
    assert rule in errors[0]["msg"]
    assert f"\n{name}\n" in f"\n{info.value}"        # the message a user sees starts the error with the name
    assert value.strip('"') in str(info.value)


@pytest.mark.parametrize(("line", "said"), [
    ('port = "8000"', "key 'port' must be an integer, got the string '8000'"),
    ('max_request_bytes = "lots"', "key 'max_request_bytes' must be an integer, got the string 'lots'"),
    ('open_api = "yes"', "key 'open_api' must be a boolean (true or false), got the string 'yes'"),
    ("open_api = 1", "key 'open_api' must be a boolean (true or false), got the int 1"),
    ("max_decoders = 3.0", "key 'max_decoders' must be an integer, got the float 3.0"),
    ('status_interval = "0.5"', "key 'status_interval' must be a number, got the string '0.5'"),
    ("max_restarts = true", "key 'max_restarts' must be an integer, got the boolean true"),
    ("worker = 1", "key 'worker' must be one of 'dedicated', 'shared', got the int 1"),
])
def test_a_config_value_of_another_type_is_refused_not_coerced(clean: Path, line: str, said: str) -> None:
    """The config file is read as strictly as its ``[[decoders]]`` tables and a trainer's config: ``open_api = "yes"``
    or ``1`` opened the API, ``port = "8000"`` was taken (audit s66cli F12)."""
    with pytest.raises(ConfigFileError) as info:
        Settings(config=write(clean / "c.toml", line + "\n"))
    assert str(info.value).endswith(said), str(info.value)


def test_a_config_value_of_its_type_is_taken(clean: Path) -> None:
    s = Settings(config=write(clean / "c.toml", 'status_interval = 1\nopen_api = false\nworker = "shared"\n'
                              'port = 9000\nshared_workers = 2\n'))
    assert (s.status_interval, s.open_api, s.worker, s.port, s.shared_workers) == (1.0, False, "shared", 9000, 2)


def test_log_level_is_case_insensitive(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_LOG_LEVEL", "WARNING")
    assert Settings().log_level == "warning"


def test_every_setting_is_documented() -> None:
    undocumented = [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert undocumented == [], f"settings without Field(description=...): {undocumented}"


def test_token_is_kept_out_of_repr_and_show(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCI_STREAM_TOKEN", "s3cret-token-value")
    s = Settings()
    assert s.token == "s3cret-token-value"
    assert "s3cret" not in repr(s)
    lines: list[str] = []
    assert main(["--show"], echo=lines.append) == 0
    shown = "\n".join(lines)
    assert "s3cret" not in shown
    assert 'token = "********"  # BCI_STREAM_TOKEN' in shown
    assert "port = 8000  # BCI_STREAM_PORT" in shown


def test_example_config_file_loads(clean: Path) -> None:
    example = REPO / "deploy" / "bci-stream.toml"
    data = read_config_file(example)
    s = Settings(config=example)
    assert s.models_dir == Path("/opt/bci-stream/models")
    assert s.host == "127.0.0.1"
    assert "token" not in data, "the token belongs in the environment file, not the config file"


def test_serve_rejects_a_bad_config_file_naming_the_key(clean: Path) -> None:
    config = write(clean / "bad.toml", "prot = 9000\n")
    proc = subprocess.run([sys.executable, "-m", "bci_stream.cli", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=clean)
    assert proc.returncode == 2, proc.stderr
    assert "unknown key 'prot'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_show_of_a_bad_config_file_is_a_line_not_a_traceback(clean: Path) -> None:
    """``python -m bci_stream.core.settings --show`` (deploy/README.md's check of a config) raised a traceback:
    run as ``-m`` the module is ``__main__``, and its ConfigFileError was not the class raised."""
    config = write(clean / "bad.toml", "port = true\n")
    proc = subprocess.run([sys.executable, "-m", "bci_stream.core.settings", "--show", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=clean)
    assert proc.returncode == 2, proc.stderr
    assert "key 'port' must be an integer, got the boolean true" in proc.stderr and "Traceback" not in proc.stderr


def test_config_decoders_with_one_id_twice_are_refused_naming_it(clean: Path) -> None:
    """The second of two ``[[decoders]]`` given one ``id`` would be refused (409) at every start: the config is."""
    entry = '[[decoders]]\nid = "{}"\nmodel = "m"\nstream = {{ name = "{}" }}\n\n'
    config = write(clean / "ids.toml", entry.format("left", "a") + entry.format("left", "b") + entry.format("x", "c"))
    with pytest.raises(ValidationError, match="each decoder's id must differ from the others', got 'left' more than "
                                              "once"):
        Settings(config=config)
    write(config, entry.format("left", "a") + entry.format("right", "b"))
    assert [d.id for d in Settings(config=config).decoders] == ["left", "right"]


def test_config_decoders_beyond_max_decoders_are_refused_naming_both(clean: Path) -> None:
    """More ``[[decoders]]`` than ``max_decoders``: those beyond it would be refused (429) at every start."""
    entry = '[[decoders]]\nmodel = "m"\nstream = {{ name = "{}" }}\n\n'
    config = write(clean / "many.toml", "max_decoders = 2\n" + "".join(entry.format(n) for n in "abc"))
    with pytest.raises(ValidationError, match="must list at most max_decoders=2 decoders .* got 3: raise max_decoders "
                                              "or remove some"):
        Settings(config=config)
    write(config, "max_decoders = 3\n" + "".join(entry.format(n) for n in "abc"))
    assert len(Settings(config=config).decoders) == 3


@pytest.mark.parametrize(("ws", "conns"), [(512, 512), (600, 512), (2, 2)])
def test_websocket_clients_leave_room_for_requests(clean: Path, ws: int, conns: int) -> None:
    """Each WebSocket client holds one of the HTTP connections: as many clients as connections would leave no room
    for a request (every one 503), so max_ws_clients must be less than http_max_connections."""
    with pytest.raises(ValidationError) as info:
        Settings(max_ws_clients=ws, http_max_connections=conns)
    assert f"must be less than http_max_connections={conns}" in str(info.value) and f"got {ws}" in str(info.value)
    assert Settings(max_ws_clients=conns - 1, http_max_connections=conns).max_ws_clients == conns - 1



def test_a_lower_connection_cap_alone_lowers_the_websocket_clients_default(clean: Path) -> None:
    """``http_max_connections`` below the clients' default (128), that default left unset: half of it, not a refusal
    naming a setting the user never set (review s48 F6)."""
    assert Settings(http_max_connections=100).max_ws_clients == 50
    assert Settings(http_max_connections=2).max_ws_clients == 1
    assert Settings(http_max_connections=300).max_ws_clients == 128
    assert Settings(http_max_connections=129).max_ws_clients == 64  # not 128, one connection left (review s48 N3)
    assert Settings(http_max_connections=129, max_ws_clients=128).max_ws_clients == 128  # given: as given


@pytest.mark.parametrize(("given", "least"), [({"hung_kill_s": 3.0}, 5.0),
                                              ({"status_interval": 1.0, "hung_kill_s": 9.5}, 10.0)])
def test_a_hung_limit_a_working_worker_could_reach_is_refused(given, least):
    """``hung_kill_s`` below the silence ``/ready`` calls unresponsive would kill workers that merely paused."""
    with pytest.raises(ValidationError) as info:
        Settings(**given)
    (error,) = info.value.errors()
    assert error["loc"] == ("hung_kill_s",), error
    assert f"must be 0 (never) or at least max(5 s, 10 status intervals) = {least:g} s" in error["msg"], error["msg"]
    assert error["input"] == given["hung_kill_s"] and "got" not in error["msg"], error  # (shown once: below)
    assert Settings(hung_kill_s=0).hung_kill_s == 0 and Settings().hung_kill_s == 60.0
