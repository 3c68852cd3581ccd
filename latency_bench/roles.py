"""The processes of the end-to-end benchmarks: player, consumer, relay, and the mne-lsl peer.

Each role runs as its own OS process (``python -m latency_bench.roles ROLE CONFIG_JSON``) so that it has
its own GIL and its CPU time can be read from ``/proc``. The protocol is line-based JSON:

* commands arrive on **stdin**, one JSON object per line (``{"cmd": "add", ...}``); end of stdin (the
  orchestrator closed the pipe or died) stops the role, so a crashed benchmark leaves no process behind;
* events leave on **stdout**, one JSON object per line: ``{"event": "ready"}`` once the role is set up,
  then one reply per command (``{"event": "added", "name": ...}``, ``{"event": "dumped", ...}``), and
  ``{"event": "error", "error": "..."}`` when something failed.

Recorded timestamps are ``pylsl.local_clock()`` values: every process on the host reads the same clock,
so a consumer's receive time minus the player's push time is the end-to-end latency.

The relay and the consumer pull and push with the worker's own calls (:class:`~bci_stream.lsl.liblsl.
ChunkPuller`, :class:`~bci_stream.lsl.liblsl.ChunkPusher`), so the relay is the service minus its
compute and bookkeeping.

The roles: :mod:`~latency_bench.role_player` (player), :mod:`~latency_bench.role_pull` (consumer, relay) and
:mod:`~latency_bench.role_mnelsl` (the mne-lsl peer); their protocol :mod:`~latency_bench.role_protocol`, what they
share :mod:`~latency_bench.role_common`. This module is the command line that runs one of them; every name of the
parts stays importable from here.
"""

from __future__ import annotations

import json
import sys

from latency_bench.role_mnelsl import run_mnelsl
from latency_bench.role_player import run_player
from latency_bench.role_protocol import emit
from latency_bench.role_pull import run_consumer, run_relay

__all__ = ["ROLES", "main", "emit", "run_player", "run_consumer", "run_relay", "run_mnelsl"]


ROLES = {"player": run_player, "consumer": run_consumer, "relay": run_relay, "mnelsl": run_mnelsl}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ROLES:
        print(f"usage: python -m latency_bench.roles {{{','.join(ROLES)}}} CONFIG_JSON", file=sys.stderr)
        return 2
    try:
        ROLES[argv[0]](json.loads(argv[1]))
    except Exception as exc:  # noqa: BLE001 - the orchestrator reads it
        emit("error", error=f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
