"""Checks of command-line values that click's types let through: NaN (every comparison with it is false, so a
``FloatRange`` takes it), infinity where a finite value is needed, a blank or unprintable LSL name. Each is a click
``callback``: the error names the option, the rule and the value (``Invalid value for '--speed': must be a finite
number, got nan``). And whether the extra a command needs is installed (:func:`missing_extra`), and where a line
of a command's output goes (:func:`say`)."""

from __future__ import annotations

import math

import click

#: The largest ``--chunk-size``: liblsl takes an outlet's chunk size as a C int.
MAX_CHUNK = 2**31 - 1
CHUNK_SIZE = click.IntRange(1, MAX_CHUNK)
#: ``simulate --sfreq``: from 60 Hz (the simulated rhythms need it) to 100 kHz.
SIM_SFREQ = click.FloatRange(min=60, max=100_000)
#: A positive number of seconds (NaN is refused by :func:`not_nan`; inf: no limit).
SECONDS = click.FloatRange(min=0, min_open=True)


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value!r}")
    return value


def not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and math.isnan(value):
        raise click.BadParameter(f"must be a number of seconds (inf: no limit), got {value!r}")
    return value


def lsl_name(ctx: click.Context, param: click.Parameter, value: str | None, max_len: int | None = None
             ) -> str | None:
    """An LSL stream's name, type, source_id or host name: printable, 1 to 256 characters (``max_len``: fewer)
    (:mod:`bci_stream.core.lsl_text`), the text a stream selector takes."""
    from bci_stream.core.lsl_text import NAME_MAX, lsl_text_problem  # when checked: `--help` imports no more

    if value is not None and (problem := lsl_text_problem(value, max_len or NAME_MAX)) is not None:
        raise click.BadParameter(problem)
    return value


def played_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A player's (``simulate``, ``replay``) stream name or source_id: as :func:`lsl_name`, with room for the
    ``-markers`` its marker stream's adds to it (at most 248 characters)."""
    from bci_stream.core.lsl_text import PLAYED_MAX

    return lsl_name(ctx, param, value, PLAYED_MAX)


def name_list(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A comma list that names at least one item (``--channels ''`` from an unset variable is no list: without
    this, it would silently mean the option was not given), with no empty item but a trailing one (``C3,,C4`` or
    ``,C3``: a name left out, e.g. an unset variable; refused as ``--labels`` refuses an empty pair)."""
    if value is None:
        return value
    if not any(item.strip() for item in value.split(",")):
        raise click.BadParameter(f"must name at least one (a comma list such as A,B), got {value!r}")
    if comma_items(value) is None:
        raise click.BadParameter(f"must be names separated by single commas (e.g. A,B), with no empty item; got "
                                 f"{value!r}")
    return value


def comma_items(value: str) -> list[str] | None:
    """The stripped items of a comma list (a trailing comma is harmless: its empty item is dropped), or None when an
    item inside is empty (``A,,B`` or ``,A``: one left out, e.g. an unset variable)."""
    items = [item.strip() for item in value.split(",")]
    if not items[-1]:
        items.pop()
    return items if all(items) else None


class PathArg(click.Path):
    """click's ``Path``, refusing an empty value: ``--out "$DIR"`` with ``DIR`` unset was the working folder, silently
    (evaluate, inspect and calibrate wrote there, ``models`` listed it: audit s66cli F16)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        if isinstance(value, str) and not value.strip():
            self.fail(f"must be a path, not empty (an unset variable?), got {value!r}", param, ctx)
        return super().convert(value, param, ctx)


def say(line: str) -> None:
    """A line of a command's output: an ``error:`` or ``warning:`` line on stderr, as every command's errors (audit
    s66cli F6: `demo > demo.log` hid its error from the terminal), the others on stdout."""
    click.echo(line, err=line.startswith(("error:", "warning:")))


#: What a command cannot run without, and the extra that installs it: command -> (extra, modules); ``tqdm`` only for
#: a progress bar (not with ``--no-progress``). Checked before the command runs (``importlib.util.find_spec``: nothing
#: imported), so a runtime-only install (``pip install .``) says what to install instead of a traceback.
NEEDS = {"calibrate": ("calibrate", ("sklearn", "onnx", "tqdm")), "train": ("train", ("torch", "onnx", "tqdm")),
         "export": ("train", ("torch", "onnx"))}


def missing_extra(cmd_name: str, args: list[str]) -> str | None:
    """Why ``cmd_name`` cannot run here (a module of :data:`NEEDS` not installed), or None."""
    import importlib.util

    extra, modules = NEEDS.get(cmd_name, ("", ()))
    if not modules or any(a in ("-h", "--help") for a in args):
        return None
    gone = [m for m in modules if not (m == "tqdm" and "--no-progress" in args) and importlib.util.find_spec(m) is None]
    if not gone:
        return None
    torch_first = " (install torch==2.13.0 first: see the README)" if extra == "train" else ""
    return (f"{cmd_name} needs {', '.join(gone)}, which the {extra!r} extra installs: pip install "
            f"'bci-stream[{extra}]'{torch_first}")


__all__ = ["CHUNK_SIZE", "MAX_CHUNK", "PathArg", "SECONDS", "SIM_SFREQ", "comma_items", "finite", "lsl_name",
           "missing_extra", "name_list", "not_nan", "played_name", "say"]
