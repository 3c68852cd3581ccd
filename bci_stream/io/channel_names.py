"""Channel names given by the user for a file whose own are numbers (``--channel-names`` of calibrate and replay).

:func:`read_channel_names` takes a comma list (``"Fp1,Fp2,..."``) or a file: an EEGLAB ``.loc``/``.locs`` montage
(the 4th column; what the BCI2000 reader takes beside a ``.dat``), or any other file with one name per line (blank
lines and lines starting with ``#`` skipped). The names are applied in file order by
``load_recording(rename_channels=...)``, which checks their count against each file.
"""

from __future__ import annotations

from pathlib import Path

from bci_stream.io.errors import DataError

#: Files read as EEGLAB channel locations (``index theta radius label`` per line).
LOC_SUFFIXES = (".loc", ".locs")


def read_channel_names(text: str | None, option: str = "--channel-names") -> list[str] | None:
    """The names ``text`` gives (see the module docstring); None or empty → None.

    Raises
    ------
    DataError
        A file that lists no name, or a value that looks like a file (ends in ``.loc``, ``.locs`` or ``.txt``, or
        has a path separator and no comma) but is not one, or a comma list with an empty item (``Fp1,,Fp2``; a
        trailing comma is harmless); ``option`` names the option in the message.
    """
    if not text or not text.strip():
        return None
    path = Path(text.strip())
    if path.is_file():
        if path.suffix.lower() in LOC_SUFFIXES:
            from bci_stream.io.bci2000 import loc_names

            names = loc_names(path)
        else:
            lines = (line.strip() for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines())
            names = [line for line in lines if line and not line.startswith("#")]
        if not names:
            raise DataError(f"{option} file {path} lists no channel name (one per line, or an EEGLAB .loc/.locs "
                            "montage)")
        return names
    if path.suffix.lower() in (*LOC_SUFFIXES, ".txt") or ("," not in text and ("/" in text or "\\" in text)):
        raise DataError(f"{option} must be a comma list of names or an existing file; {text!r} looks like a file "
                        "but there is none")
    from bci_stream.cli_checks import comma_items

    if (names := comma_items(text)) is None:  # "Fp1,,Fp2" named one channel too few: every name after it shifts
        raise DataError(f"{option} must be channel names separated by single commas (e.g. Fp1,Fp2), with no empty "
                        f"item, or a file; got {text!r}")
    return names or None
