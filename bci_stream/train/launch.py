"""``bci-stream train --nproc-per-node N``'s launcher: torchrun (standalone, one node) running
``python -m bci_stream.train`` in N processes, with a refusal reported as without torchrun.

``bci-stream train`` checks the config, the output folders and the data once before it starts this launcher
(:func:`bci_stream.train.run.preflight`); a refusal only the processes can find (e.g. a channel flat after
filtering) is written by each process to the folder in ``BCI_STREAM_TRAIN_ERRORS`` instead of its stderr. When a
process exits with 2 (a refusal), the launcher prints the lowest rank's message as one ``error:`` line and exits 2,
without torchrun's failure report; any other failure keeps the report and exits 1.

Run as ``python -m bci_stream.train.launch N CONFIG [train options]``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

#: Environment variable naming the folder where each process writes its refusal (``rank<R>.txt``).
ERRORS_ENV = "BCI_STREAM_TRAIN_ERRORS"

#: Exit code of a refusal (config, data, output folders), as ``bci-stream train`` without torchrun.
REFUSED = 2


def report_error(message: str) -> bool:
    """Write ``message`` for the launcher when this process runs under it (True), else do nothing (False)."""
    folder = os.environ.get(ERRORS_ENV)
    if not folder:
        return False
    rank = os.environ.get("RANK", "0")
    (Path(folder) / f"rank{rank}.txt").write_text(message, encoding="utf-8")
    return True


def _first_error(folder: Path) -> str | None:
    files = sorted(folder.glob("rank*.txt"), key=lambda p: int(p.stem.removeprefix("rank") or 0))
    return files[0].read_text(encoding="utf-8") if files else None


def _quiet(prefix: str) -> None:
    """Only CRITICAL records from the loggers under ``prefix`` (those already made set their own level)."""
    for name in [prefix, *logging.Logger.manager.loggerDict]:
        if name == prefix or name.startswith(prefix + "."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def launch(nproc_per_node: int, argv: list[str]) -> int:
    """Run ``python -m bci_stream.train *argv`` in ``nproc_per_node`` processes; the exit code for the command."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # torchrun logs each failed process (and the SIGTERM it sends the others) at WARNING/ERROR: a refusal is
    # reported in one line instead, and any other failure by the report below. Its note that it sets
    # OMP_NUM_THREADS=1 is left out too (the trainer sets its own threads: training.threads).
    _quiet("torch.distributed.elastic")
    _quiet("torch.distributed.run")
    args = torchrun.parse_args(["--standalone", f"--nproc_per_node={nproc_per_node}", "-m", "bci_stream.train",
                                *argv])
    with tempfile.TemporaryDirectory(prefix="bci-stream-train-") as folder:
        os.environ[ERRORS_ENV] = folder
        try:
            torchrun.run(args)
        except ChildFailedError as exc:
            codes = {f.exitcode for f in exc.failures.values()}
            message = _first_error(Path(folder))
            if message is not None and REFUSED in codes:
                print(f"error: {message}", file=sys.stderr)
                return REFUSED
            if message is not None:
                print(f"error: {message}", file=sys.stderr)
            print(exc.format_msg(), file=sys.stderr)
            return 1
        except (KeyboardInterrupt, SignalException) as exc:  # Ctrl-C / kill: the processes are stopped; no traceback
            return 128 + int(getattr(exc, "sigval", 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: python -m bci_stream.train.launch N CONFIG [train options]  (N >= 1 processes)",
              file=sys.stderr)
        return REFUSED
    return launch(int(argv[0]), argv[1:])


if __name__ == "__main__":
    sys.exit(main())
