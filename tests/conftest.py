"""Shared fixtures: tiny real models exported with the real exporter, real LSL outlets, a real server."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from support.common import (
    REQUIRE_DATA_ENV,
    SHARED_DATA,
    TEST_DATA,
    TINY_CH_NAMES,
    TINY_SFREQ,
    data_required,
    export_tiny,
    unique,
)
from support.run_cache import built_once


def pytest_configure(config: pytest.Config) -> None:
    """Make Ctrl-C deliverable to the commands the tests start. A test run started in the background of a
    non-interactive shell (``make test &``) inherits SIGINT ignored, and so would every ``bci-stream`` process it
    starts (an ignored signal stays ignored across exec; Python then installs no KeyboardInterrupt handler):
    the tests that stop a command with Ctrl-C (``test_clean_exit``) would wait for it in vain."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # The Ray test clusters listen on 127.0.0.1 only; Ray reads this once, at its import, and otherwise connects a
    # driver given 127.0.0.1 through this host's own address (ray.init timed out whenever a test module imported
    # ray at collection before a Ray test module set it: tests/unit/service collected before test_ray_backend.py)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from support.tls_context import share_one_ca_context

    share_one_ca_context()  # httpx parses its CA bundle for each client otherwise (40 ms of CPU each)
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):  # xdist's controller
        from support.rewrite_cache import prewrite

        prewrite(config, Path(__file__).parent)  # every worker reads the rewritten test modules, none rewrites them


@pytest.fixture(autouse=True)
def _stop_signals_as_they_were() -> Iterator[None]:
    """SIGINT and SIGTERM handled after each test as before it. A command run in this process (``CliRunner``) may set
    them as a process of its own would at its end (``replay`` and ``simulate`` ignore them once their player has
    returned: :func:`bci_stream.sim.quiet_end.ignore_stop_signals`); every process a later test of this worker starts
    would inherit them ignored (a rehearsal: ``evaluate --live`` deaf to Ctrl-C, ``bench`` to SIGTERM)."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in before.items():
        if signal.getsignal(sig) is not handler and handler is not None:
            signal.signal(sig, handler)


@pytest.fixture(scope="session", autouse=True)
def _bench_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The benchmarks' random-weight GRUs exported once per run and copied by every benchmark test that needs one
    (``latency_bench.models.CACHE_ENV``: the export is deterministic, so a copy is the model it would export)."""
    from support.run_cache import shared_root

    os.environ.setdefault("LATENCY_BENCH_MODEL_CACHE", str(shared_root(tmp_path_factory) / "bench-models"))


#: Test folders in the order of the collection: the longest files first (calibrate and train end to end, then live
#: LSL/HTTP, then faults), the many short unit files last. pytest-xdist (3.8, ``--dist loadfile``) hands the files out
#: with the most tests first, keeping this order only among files of as many tests: handed out in this order
#: (``--no-loadscope-reorder``, f794da3) the suite took 822 s against 804-840 s, and two tests failed under the load of
#: the train files, then the fault files, side by side (a worker not stopped in 5 s), so xdist's order stays.
RUN_FIRST = ("unit/train/", "integration/", "faults/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files by :data:`RUN_FIRST` (a stable sort: the tests of a file keep their order)."""
    def rank(item: pytest.Item) -> int:
        path = Path(str(item.path)).as_posix()
        return next((k for k, folder in enumerate(RUN_FIRST) if f"/tests/{folder}" in path), len(RUN_FIRST))

    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile`` without pytest-xdist 3.8.0's deadlocks after a worker's native crash
    (:mod:`support.xdist_crash`)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from support.xdist_crash import CrashSafeLoadFileScheduling

    return CrashSafeLoadFileScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: object) -> None:
    """A test whose worker crashed (a native crash, e.g. liblsl's in outlet destruction) runs once more: its first
    crash is a ``rerun``, its second a failure (:func:`support.xdist_crash.rerun_once`)."""
    from support.xdist_crash import rerun_once

    rerun_once(crashitem, report, sched)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, tuple] | None:
    """A ``rerun`` (:func:`pytest_handlecrashitem`) is counted and shown as such, not as a failure."""
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Name every test that ran again after its worker crashed, and why."""
    reruns = terminalreporter.stats.get("rerun", [])  # type: ignore[attr-defined]
    if reruns:
        terminalreporter.section("tests run again after their worker crashed")  # type: ignore[attr-defined]
        for rep in reruns:
            terminalreporter.line(f"RERUN {rep.nodeid}: {rep.longrepr}")  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which real EEG this run reads: the subset in tests/data, and whether the full set is there."""
    full = "present" if SHARED_DATA.is_dir() else "absent: tests that need it skip"
    if data_required():
        full = "present" if SHARED_DATA.is_dir() else "absent: tests that need it FAIL"
        full += f" ({REQUIRE_DATA_ENV}=1)"
    return [f"real EEG: subset {TEST_DATA}; full set {SHARED_DATA} {full}"]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny-gru`` and ``tiny-lstm``, exported once per run (:func:`support.run_cache.built_once`)."""
    def build(root: Path) -> None:
        export_tiny(root, "tiny-gru", "gru")
        export_tiny(root, "tiny-lstm", "lstm", seed=1)

    return built_once(tmp_path_factory, "models", build)


@pytest.fixture()
def eeg_outlet() -> Iterator[tuple[pylsl.StreamOutlet, pylsl.StreamInfo]]:
    """A fresh 8-channel 500 Hz EEG outlet with channel labels, under a unique name."""
    name = unique("eeg")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src")
    outlet = pylsl.StreamOutlet(info)
    yield outlet, info
    del outlet

