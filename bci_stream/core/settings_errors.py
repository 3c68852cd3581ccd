"""Settings errors a user can act on: :func:`load_settings` names where each bad value came from.

pydantic's own message names the field (``token``), not the environment variable the user set
(``BCI_STREAM_TOKEN``), and prints the value it refused, secrets included. :func:`load_settings` (what the
command line uses) turns it into one line per bad value: its origin (``--port``, ``environment variable
BCI_STREAM_WORKER``, the ``.env`` file, ``config file 'x.toml': key 'port'``), pydantic's rule and the value,
except a secret's (the token's: only its length is said).
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError as PydanticSettingsError

from bci_stream.core.errors import BciStreamError, rule_text
from bci_stream.core.settings import ENV_PREFIX, Settings, env_var


class SettingsError(BciStreamError):
    """Settings with bad values: one line per value, naming where it came from, the rule and the value."""


def load_settings(**flags: Any) -> Settings:
    """:class:`Settings` with ``flags`` (command-line options by setting name; None: not given) over the other sources.

    Raises
    ------
    SettingsError
        One line per bad value: where it came from (``--port``, ``BCI_STREAM_PORT``, the ``.env`` file, the config
        file's key), the rule and the value; a secret's value (the token) is never shown.
    ConfigFileError
        The config file is missing, unreadable, malformed, or holds an unknown key.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    problems = _env_file_problems(env_file)
    problems += _misspelt(os.environ, "environment variable {}")
    if not problems and env_file.is_file():
        problems += _misspelt(_dotenv(env_file), f"{{}} in the env file {str(env_file)!r}")
    if problems:
        raise SettingsError("\n".join(problems))
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise SettingsError("\n".join(_error_lines(exc, given))) from None
    except PydanticSettingsError as exc:  # a structured setting's variable that is not JSON (before: a traceback)
        raise SettingsError(_not_json(str(exc), given)) from None
    settings._given = frozenset(given)  # :func:`setting_origin` names the flag of a value that came from one
    return settings


def setting_origin(name: str, settings: Settings) -> str:
    """Where the value of setting ``name`` in ``settings`` came from, for a log line: ``--models-dir`` (a flag given
    to :func:`load_settings`), ``environment variable BCI_STREAM_MODELS_DIR``, ``BCI_STREAM_MODELS_DIR in the env file
    '.env'``, ``config file 'x.toml': key 'models_dir'``, or ``the default``."""
    flags = {k: getattr(settings, k) for k in settings._given}
    origin = _origin(name, flags)
    if origin.startswith("config file ") and settings.config is not None:
        from bci_stream.core.settings import read_config_file

        try:
            if name not in read_config_file(settings.config):  # the file is selected but does not set it
                return "the default"
        except BciStreamError:  # changed since the start: say no more than the file
            pass
    return "the default" if origin == f"setting {name!r}" else origin


#: Variables of this prefix that are not settings (read by the trainer, tests, benchmarks and deployment scripts).
OTHER_VARIABLES = frozenset(ENV_PREFIX + n for n in (
    "DATA", "PINS_DIR", "REQUIRE_DATA", "TRAIN_ERRORS", "CODE_STAMP", "IMAGE_TAG", "EXTRAS", "BENCH_NO_SETUP",
    "BENCH_TIMEFLUX_PYTHON", "TEST_PLAY_S"))


def _env_file_problems(path: Path) -> list[str]:
    """Lines of the env file that cannot be read: not UTF-8, or not ``NAME=value`` (python-dotenv skips such a line
    with a warning, so a token on it would leave the API open). The line's value is never shown (it may be the
    token)."""
    if not path.is_file():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return [f"the env file {str(path)!r} cannot be read: {exc.strerror or exc}"]
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        return [f"the env file {str(path)!r} is not UTF-8 text: byte {exc.object[exc.start]:#04x} on line {line} "
                "(save it as UTF-8)"]
    from dotenv.parser import parse_stream  # pydantic-settings' own .env reader

    bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    return [f"the env file {str(path)!r}, line {n}: cannot be parsed as NAME=value (e.g. a quote not closed, or no "
            "'='): fix or remove it (python-dotenv would skip it: a token there would leave the API open)"
            for n in bad]


def _misspelt(variables: Mapping[str, Any], where: str) -> list[str]:
    """A variable of the settings' prefix that is no setting but close to one (``BCI_STREAM_TOKN``): the setting the
    user meant would silently keep its default (no token: the API open), so it is refused; other names are left
    alone (another tool's)."""
    known = sorted(n.upper() for n in Settings.model_fields)
    lines = []
    for name in variables:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_VARIABLES or upper.removeprefix(ENV_PREFIX) in known:
            continue
        if (meant := typo_of(upper.removeprefix(ENV_PREFIX), known)) is not None:
            lines.append(f"{where.format(name)} is not a setting: did you mean {ENV_PREFIX}{meant}? (every "
                         "setting and its variable: the configuration reference in deploy/README.md)")
    return lines


def typo_of(suffix: str, known: list[str]) -> str | None:
    """The setting name (upper case) that ``suffix`` (a variable's name after ``BCI_STREAM_``) is a typo of, or None.

    A typo is a few letters dropped, added, changed or swapped: at most one edit (a swap of neighbours counting one) in
    a name of up to 6 letters, two in a longer one (:func:`edits`), or difflib's ratio of 0.8 or more. Before, only
    the ratio was used, and it misses one swap in a short name: ``PROT`` (0.75 to ``PORT``) was silently ignored, and
    serve took the default port."""
    best = min(known, key=lambda k: (edits(suffix, k), k))
    if edits(suffix, best) <= (1 if len(best) <= 6 else 2):
        return best
    close = difflib.get_close_matches(suffix, known, n=1, cutoff=0.8)
    return close[0] if close else None


def edits(a: str, b: str) -> int:
    """The edit distance of ``a`` and ``b`` with a swap of two neighbouring characters counting one edit (optimal
    string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _error_lines(exc: ValidationError, flags: dict[str, Any]) -> list[str]:
    """One line per bad value: its origin, its place within a structured setting (``decoders[0].options.worker``),
    the rule and that value (each error its own: before, every error of one setting showed its first error's value,
    audit s62multi F2); a missing field's parent and a check across settings' inputs (every setting's, the token's
    among them: audit s62multi F3) are never shown."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        msg = rule_text(err["msg"])
        if not loc:  # a check across settings: the settings it names, each with its origin
            named = [n for n in Settings.model_fields if f"{n}=" in msg or f"{n} " in f"{msg} "]
            where = ", ".join(f"{n} ({o if (o := _origin(n, flags)) != f'setting {n!r}' else 'its default'})"
                              for n in named) or "settings"  # (a default was "setting 'x'", as if set: s66cli F13)
            lines.append(f"{where}: {msg}")
            continue
        name, value = loc[0], err.get("input")
        place = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        field = Settings.model_fields.get(name)
        if field is not None and field.repr is False:  # a secret (the token): say what is wrong, never the value
            shown = f"; got a value{f' of {len(value)} characters' if isinstance(value, str) else ''} (not shown)"
        elif err["type"] == "missing" or msg.endswith(f"got {value!r}"):  # (a missing field's input: its parent)
            shown = ""
        else:
            shown = f"; got {value!r}"
        line = f"{_origin(name, flags)}{f' ({name}{place})' if place else ''}: {msg}{shown}"
        if line not in lines:
            lines.append(line)
    return lines


def _not_json(message: str, flags: dict[str, Any]) -> str:
    """pydantic-settings' ``error parsing value for field "decoders" from source "EnvSettingsSource"`` as one line:
    where the value came from (the source it names: the environment, or the ``.env`` file, which pydantic-settings
    parses even when the environment's variable outranks it; review s62 F8), JSON's own reason and the value (audit
    s62multi F1)."""
    import json
    import re

    found = re.search(r'field "(\w+)"', message)
    if found is None:
        return f"settings: {message}"
    name, var = found.group(1), env_var(found.group(1))
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    dotenv = "DotEnvSettingsSource" in message
    values = _dotenv(env_file) if dotenv else os.environ
    key = next((k for k in values if k.upper() == var), var)
    where = f"{key} in the env file {str(env_file)!r}" if dotenv else f"environment variable {key}"
    value = values.get(key)
    if "EnvSettingsSource" not in message:  # another source (a config file's is read by bci-stream itself)
        where = _origin(name, flags)
    try:
        json.loads(value or "")
        why = message
    except ValueError as exc:
        why = f"not JSON ({exc})"
    empty = " (empty: unset the variable, or give [] for none)" if not (value or "").strip() else ""
    return f"{where}: {why}{empty}: the value must be JSON, e.g. '[{{...}}]' for a list; got {value!r}"


def _origin(name: str, flags: dict[str, Any]) -> str:
    """Where the value of setting ``name`` came from, in the precedence order of :class:`Settings`."""
    if name in flags:
        return f"--{name.replace('_', '-')}"
    if name not in Settings.model_fields:
        return f"setting {name!r}" if name else "settings"
    var = env_var(name)
    found = next((k for k in os.environ if k.upper() == var), None)  # the variables are case-insensitive
    if found is not None:
        return f"environment variable {found}"
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    dotenv = _dotenv(env_file)
    found = next((k for k in dotenv if k.upper() == var), None)
    if found is not None:
        return f"{found} in the env file {str(env_file)!r}"
    config = flags.get("config") or os.environ.get(env_var("config")) or dotenv.get(env_var("config"))
    if config:
        return f"config file {str(config)!r}: key {name!r}"
    return f"setting {name!r}"


def _dotenv(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # pydantic-settings' own .env reader

    return dict(dotenv_values(path, encoding="utf-8"))


__all__ = ["SettingsError", "load_settings", "setting_origin", "typo_of"]
