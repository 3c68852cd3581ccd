"""Service settings: arguments, environment (prefix ``BCI_STREAM_``), a ``.env`` file and a TOML config file.

Precedence, highest first:

1. arguments (``Settings(port=9000)``, command-line options such as ``bci-stream serve --port``);
2. environment variables (``BCI_STREAM_PORT=9000``);
3. the ``.env`` file in the working directory (the same ``BCI_STREAM_*`` names);
4. the TOML config file: ``Settings(config=...)``, ``bci-stream serve --config FILE``, or
   ``BCI_STREAM_CONFIG`` from the environment or ``.env``; its keys are the setting names (``port = 9000``);
5. the defaults.

``python -m bci_stream.core.settings --markdown`` prints the reference table of every setting (``deploy/README.md``'s);
``--write FILE`` refreshes that table in place; ``--show`` prints the settings in effect here, the token masked."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict
from pydantic_settings import PydanticBaseSettingsSource as Source

from bci_stream.core.errors import BciStreamError
from bci_stream.core.model_dirs import default_models_dir
from bci_stream.core.settings_types import is_path_field, toml_type_problem, toml_value
from bci_stream.core.spec import DEFAULT_WORKER, DecoderSpec, WorkerKind

ENV_PREFIX = "BCI_STREAM_"


class ConfigFileError(BciStreamError):
    """The TOML config file is missing, unreadable, malformed, or holds a key that is no setting."""


class Settings(BaseSettings):
    """Every setting of the service. See the module docstring for where values come from."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", allow_inf_nan=False)

    host: str = Field(
        default="127.0.0.1",
        description="Bind address of the HTTP API. Loopback by default; `0.0.0.0` exposes it to the network "
                    "(put a TLS reverse proxy in front, and set a token).",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port of the API; 0 picks a free port.")
    models_dir: Path = Field(
        default_factory=default_models_dir,
        description="Folder of the model registry (one sub-folder per model: `model.onnx` + `model.json`). "
                    "A relative path in the config file is relative to that file's folder.",
        json_schema_extra={"default_doc": "`models/` of the source checkout, else `./models` if it exists, else "
                                          "the install's bundled models (read only)"},
    )
    recordings_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "recordings",
        description="Folder under which decoders write the XDF files named by their `record_path` option, and "
                    "recordings (`POST /recordings`) the file named by their `out` (a request can never write outside "
                    "it). Created when first needed. A relative path in the config "
                    "file is relative to that file's folder.",
        json_schema_extra={"default_doc": "`./recordings`"},
    )
    token: str | None = Field(
        default=None, min_length=8, repr=False,
        description="Bearer token that every route reading or changing decoders, models or status requires when "
                    "set (`Authorization: Bearer ...` or `?token=`; open: /health, /ready, /metrics unless "
                    "`metrics_token`, the dashboard page, /docs). "
                    "Keep it in the environment or an env file readable only by the service, not in the config file.",
    )
    open_api: bool = Field(
        default=False,
        description="Serve the API with no token on a host reachable from the network (any bind address but "
                    "loopback): `serve` refuses to start so unless this is true, as whoever reaches the port could "
                    "start, stop and swap decoders and record. Loopback binds need no token.",
    )
    metrics_token: bool = Field(
        default=False,
        description="Require the token on `/metrics` too (Prometheus sends it with the scrape config's "
                    "`authorization: {credentials_file: ...}`): its series name decoders, recordings and LSL streams, "
                    "whose names may name a subject. Needs `token`.",
    )
    status_interval: float = Field(default=0.25, gt=0, le=5, description="Seconds between status snapshots that each "
                                                                         "worker sends to the API.")
    max_restarts: int = Field(
        default=3, ge=0, le=100,
        description="Restarts of a crashed worker process, since it last ran healthy (`restart_reset_s`), before its "
                    "decoder is left in `error`.",
    )
    restart_backoff: float = Field(default=0.5, gt=0, le=30, description=(
        "Delay in seconds before the first restart of a crashed worker; doubles on each further restart since it "
        "last ran healthy (at most 30 s)."))
    restart_reset_s: float = Field(
        default=60.0, gt=0, le=86400,
        description="Seconds a worker must have been `connecting` or `running` for its next crash to count as a "
                    "first one: the `max_restarts` budget and the `restart_backoff` start anew (`restarts` in the "
                    "status counts them all).",
    )
    hung_kill_s: float = Field(default=60.0, ge=0, le=86400, description=(
        "Seconds without a status from a worker process (of any of its decoders) while a decoder of it runs "
        "(`running`, `stalled`, `connecting` waiting for a consumer) after which it is hung: killed and restarted "
        "as after a crash (0: never; else at least max(5 s, 10 status intervals), where `/ready` lists it in "
        "`decoders_unresponsive`)."))
    worker: WorkerKind = Field(
        default=DEFAULT_WORKER,
        description="Worker kind of decoders whose options do not name one: `dedicated` (a process per decoder) or "
                    "`shared` (streams placed on the pool of shared workers, least loaded first).",
    )
    shared_workers: int | None = Field(
        default=None, ge=1, le=256,
        description="Most shared worker processes (decoders with `worker: shared` go to the least loaded).",
        json_schema_extra={"default_doc": "the number of CPUs the service may use (its CPU affinity)"},
    )
    backend: Literal["local", "ray"] = Field(
        default="local",
        description="Where decoder workers run: `local` (processes on this host) or `ray` (Ray actors on the nodes of "
                    "a Ray cluster, placed by each decoder's `placement` option; needs the `cluster` extra).",
    )
    ray_address: str | None = Field(
        default=None, min_length=1, max_length=255,
        description="Backend `ray`: address of the Ray cluster (`host:port` that `ray start --head` prints).",
        json_schema_extra={"default_doc": "`RAY_ADDRESS`, else a cluster started on this host"},
    )
    ray_listen_host: str | None = Field(
        default=None, min_length=1, max_length=255,
        description="Backend `ray`: the address of this host that workers on other nodes connect back to.",
        json_schema_extra={"default_doc": "this node's Ray IP address"},
    )
    ray_start_timeout: float = Field(
        default=60.0, gt=0, le=600,
        description="Backend `ray`: seconds a worker actor may take to start before its decoder is refused, and "
                    "that connecting to the cluster (`ray.init`) may take at start before `serve` is refused.",
    )
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Largest accepted HTTP request body in "
                                                                           "bytes; larger bodies get 413.")
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, le=3600,
        description="Seconds an HTTP connection may take to send a complete request head (request line and "
                    "headers), from its opening or its previous response's end, and may leave between two parts of "
                    "a request body; then it is closed. The app's answer, and WebSocket subscribers, are not timed.",
    )
    http_max_connections: int = Field(
        default=512, ge=2, le=65536,
        description="Most HTTP connections the API serves at once, WebSocket subscribers and idle keep-alive "
                    "connections included; a request that comes while more are open gets 503 (retryable, Retry-After "
                    "1 s). Leave room for every dashboard (a browser opens up to 6, and one per decoder it shows), "
                    "subscriber and scraper.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        default="info", description="Log level of the service (case-insensitive): uvicorn's lines, the API "
                                    "process's and every worker process's."
    )
    max_decoders: int = Field(
        default=64, ge=1, le=100_000,
        description="Most decoders listed at once (each a worker process or a shared worker's slot, its output ring "
                    "and pipes): one more is refused with 429 naming this setting. A decoder counts from its start "
                    "(`POST /decoders` or `decoders`) to its `DELETE`, in state `error` too.",
    )
    max_recordings: int = Field(
        default=64, ge=1, le=100_000,
        description="Most recordings with no model (`POST /recordings`, each a thread of the API process and its "
                    "inlets) `searching` or `recording` at once: one more is refused with 429 naming this setting. "
                    "One `stopped` or in `error` holds no thread: it does not count, though listed until its DELETE "
                    "(the latest 256 such).",
    )
    max_ws_clients: int = Field(
        default=128, ge=1, le=100_000,
        description="Most WebSocket output clients (`/decoders/{id}/outputs`) open at once, over all decoders (each "
                    "holds a socket of the API process): one more is accepted, then closed with code 1013 and a reason "
                    "naming this setting. Less than `http_max_connections`, whose connections they are (left unset, "
                    "half of it when that is 256 or less).",
    )
    max_record_channels: int = Field(
        default=1024, ge=1, le=1_000_000,
        description="Most channels of a stream that a recording with no model (`POST /recordings`) records; a stream "
                    "with more ends the recording in `error` saying so, no file written (high-density EEG has 256, "
                    "MEG about 300-400).",
    )
    decoders: list[DecoderSpec] = Field(default_factory=list, description=(
        "Decoders started when `serve` starts (and so again after a restart), each a `POST /decoders` body (config "
        "file: `[[decoders]]` tables). One its checks refuse (e.g. a model not in `models_dir`) is logged, the others "
        "start; a malformed one refuses the start, as any bad setting."))
    _given: frozenset[str] = PrivateAttr(default=frozenset())  # the arguments given (load_settings): their origin
    config: Path | None = Field(
        default=None,
        description="TOML config file to read (keys are the setting names). Read from the argument "
                    "(`serve --config`), the environment or `.env`; never from the config file itself.",
    )

    @field_validator("decoders")
    @classmethod
    def _distinct_ids(cls, value: list[DecoderSpec], info: ValidationInfo) -> list[DecoderSpec]:
        """Decoder ids given (``id``) once each: the second would be refused at every start; and no more decoders
        than ``max_decoders`` (those beyond it would be refused at every start)."""
        ids = [d.id for d in value if d.id is not None]
        if twice := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"each decoder's id must differ from the others', got {', '.join(map(repr, twice))} "
                             "more than once")
        if (cap := info.data.get("max_decoders")) is not None and len(value) > cap:
            raise ValueError(f"must list at most max_decoders={cap} decoders (those beyond it would never start), "
                             f"got {len(value)}: raise max_decoders or remove some")
        return value

    @field_validator("hung_kill_s")
    @classmethod
    def _longer_than_unresponsive(cls, value: float, info: ValidationInfo) -> float:
        if value and (interval := info.data.get("status_interval")) is not None and value < (least := max(5.0,
                                                                                                       10 * interval)):
            raise ValueError(f"must be 0 (never) or at least max(5 s, 10 status intervals) = {least:g} s "
                             f"(status_interval={interval:g}: a working worker reports every status interval, so a "
                             "shorter silence is no hang)")  # (the value: the error's own "; got", as for the others)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token_to_require(cls, value: bool, info: ValidationInfo) -> bool:
        """``metrics_token`` with no token would require nothing: refused rather than ignored."""
        if value and info.data.get("token") is None:
            raise ValueError("needs a token to require (set token, BCI_STREAM_TOKEN); with none every route is open")
        return value

    @model_validator(mode="after")
    def _room_for_requests(self) -> Settings:
        """Fewer WebSocket clients than HTTP connections: each is one, and requests need room besides them. Given
        both, a clash is refused; ``max_ws_clients`` left unset is at most half the connection cap (before,
        ``http_max_connections=100`` alone was refused for a setting the user never set, review s48 F6; and 129
        left one connection for requests, N3)."""
        conns, clients = self.http_max_connections, self.max_ws_clients
        if "max_ws_clients" not in self.model_fields_set:
            self.max_ws_clients = min(clients, max(1, conns // 2))
        elif clients >= conns:
            raise ValueError(f"max_ws_clients must be less than http_max_connections={conns} (each WebSocket client "
                             f"holds one of those connections, and requests need room besides them), got {clients}")
        return self

    @field_validator("models_dir", "recordings_dir", "config", mode="before")
    @classmethod
    def _home_expanded(cls, value: Any) -> Any:
        """``~`` expanded from any source (systemd's ``EnvironmentFile=`` does not; a config file's ``"~/rec"`` wrote
        under ``./~/``); an empty one refused (an unset variable meant the working folder: audit s66cli F16)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("must be a path, not empty (an unset variable?): give one, or leave the setting out")
        return Path(value).expanduser() if isinstance(value, (str, Path)) else value

    @field_validator("models_dir", "recordings_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """A relative folder (``--models-dir ../models``, an environment variable) made absolute from the working
        folder at start: a Ray actor runs in a folder of its own, where a relative one named nothing (every hot swap
        of a ``serve --backend ray --models-dir ../models`` was "not found": audit s68multi F1)."""
        return Path(os.path.abspath(value))

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_log_level(cls, value: Any) -> Any:
        """A level in any case; a bad one is refused as it was given (``LOUD``, not ``loud``)."""
        levels = typing.get_args(cls.model_fields["log_level"].annotation)
        return value.strip().lower() if isinstance(value, str) and value.strip().lower() in levels else value

    @field_validator("token")
    @classmethod
    def _sendable_token(cls, value: str | None) -> str | None:
        """A token a client can send: visible ASCII, no space (HTTP header values are ASCII, and clients refuse or
        strip a header value with spaces around it); not the env example's published placeholder (audit s46)."""
        if value is not None and not all("!" <= c <= "~" for c in value):
            raise ValueError("must be visible ASCII characters without spaces (a client sends it in the header "
                             "'Authorization: Bearer <token>')")
        if value is not None and value.startswith("replace-with-"):
            raise ValueError("is deploy/bci-stream.env.example's placeholder: generate one with secrets.token_urlsafe")
        return value

    @property
    def client_url(self) -> str:
        """Base URL a client on this host uses to reach the API (a wildcard bind address maps to loopback)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Source, env_settings: Source,
                                   dotenv_settings: Source, file_secret_settings: Source) -> tuple[Source, ...]:
        """init > environment > ``.env`` > config file > defaults; the config path comes from the first three."""
        config: Any = None
        for source, origin in ((init_settings, "--config"), (env_settings, f"env {ENV_PREFIX}CONFIG"),
                               (dotenv_settings, f"{ENV_PREFIX}CONFIG in the env file")):
            if (config := source().get("config")) is not None:  # the origin: a missing file's message names it
                if not str(config).strip():  # an unset variable: it read the working folder (review s66 F1)
                    raise ConfigFileError(f"setting 'config' ({origin}) is empty: give the config file's path")
                break
        toml = TomlFileSource(settings_cls, Path(config) if config is not None else None, origin)
        return init_settings, env_settings, dotenv_settings, toml


class TomlFileSource(InitSettingsSource):
    """Settings from a flat TOML file, checked strictly: an unknown key is an error, not silently ignored.

    Relative paths of path-typed settings are resolved against the file's folder, so a config file works
    whatever the working directory of the service is.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None, origin: str = "--config") -> None:
        self.path = path
        super().__init__(settings_cls, read_config_file(path, settings_cls, origin) if path is not None else {})


def read_config_file(path: Path, settings_cls: type[BaseSettings] = Settings,
                     origin: str = "--config") -> dict[str, Any]:
    """Read and check a settings TOML file; raises :class:`ConfigFileError` naming the file, where it was selected
    (``origin``: ``--config``, ``env BCI_STREAM_CONFIG``; before, always the variable) and the key."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigFileError(f"config file {str(path)!r} (setting 'config', {origin}) does not exist") from None
    except OSError as exc:
        raise ConfigFileError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise ConfigFileError(f"config file {str(path)!r} is not UTF-8 text (TOML is): byte "
                              f"{exc.object[exc.start]:#04x} at offset {exc.start}; save it as UTF-8") from None
    fields = settings_cls.model_fields
    for key, value in data.items():
        if key == "config":
            raise ConfigFileError(f"config file {str(path)!r}: key 'config' is not allowed here; select the "
                                  f"config file with the argument or {ENV_PREFIX}CONFIG")
        if key not in fields:
            raise ConfigFileError(f"config file {str(path)!r}: unknown key {key!r}; the settings are "
                                  f"{', '.join(sorted(k for k in fields if k != 'config'))}")
        if (kind := toml_type_problem(fields[key], value)) is not None:  # pydantic would coerce it ("yes", 1.0)
            raise ConfigFileError(f"config file {str(path)!r}: key {key!r} must be {kind}, got {toml_value(value)}")
        if isinstance(value, str) and value.strip() and is_path_field(fields[key]) \
                and not Path(value).expanduser().is_absolute():  # (an empty one: refused by Settings, not the folder)
            data[key] = str(path.resolve().parent / value)
    return data


# ----------------------------------------------------------------------------------------------- reference


def env_var(name: str) -> str:
    """The environment variable of a setting: ``port`` -> ``BCI_STREAM_PORT``."""
    return f"{ENV_PREFIX}{name.upper()}"


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The settings in effect, as plain values, with the token masked."""
    values = settings.model_dump(mode="json")
    values["token"] = values.get("token") and "********"
    values["decoders"] = [d.model_dump(mode="json", exclude_defaults=True) for d in settings.decoders]  # no defaults
    return values


def main(argv: Sequence[str] | None = None, echo: Callable[[str], None] = print) -> int:
    """``python -m bci_stream.core.settings``: print or write the settings reference, or show the settings in effect."""
    parser = argparse.ArgumentParser(prog="python -m bci_stream.core.settings", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--markdown", action="store_true", help="print the reference table of every setting")
    what.add_argument("--write", type=Path, metavar="FILE",
                      help="replace the generated reference block in FILE (e.g. deploy/README.md)")
    what.add_argument("--show", action="store_true", help="print the settings in effect here (token masked)")
    parser.add_argument("--config", type=Path, default=None, help="with --show: the TOML config file to read")
    args = parser.parse_args(argv)
    from bci_stream.core.settings_reference import settings_markdown, write_reference

    if args.markdown:
        echo(settings_markdown().rstrip("\n"))
    elif args.write:
        try:  # a line naming the file and why (exit 2), as --show's bad config: not a traceback
            changed = write_reference(args.write)
        except ValueError as exc:
            parser.error(f"--write {args.write}: {exc}")
        echo(f"{args.write}: settings reference {'updated' if changed else 'already up to date'}")
    else:
        from bci_stream.core import settings as imported  # run as ``python -m``, this module is __main__, and
        from bci_stream.core.settings_errors import SettingsError, load_settings  # its classes are not those raised

        try:
            settings = load_settings(config=args.config)
        except (SettingsError, imported.ConfigFileError) as exc:  # one line per bad value, never the token's (exit 2)
            parser.error(str(exc))
        for name, value in effective_settings(settings).items():
            echo(f"{name} = {json.dumps(value)}  # {env_var(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
