"""Clean output at exit: `bci-stream replay`, `serve` and `demo` end without an error line.

Real subprocesses on loopback LSL, their stdout and stderr read together. liblsl logs ``ERR| Stream
transmission broke off`` in a *consumer's* process when the outlet it reads vanishes under it, so every
program here closes its inlets before their producers go: the replay waits (``--linger``) for its consumers
to let go, the decoder worker closes its inlet first, the demo closes its marker inlet, stops the decoder,
then the simulator. Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM stop
them without a traceback; workers and the demo's simulator ignore Ctrl-C and are stopped by their parent.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pylsl
import pytest

from support.bound_port import wait_bound_port
from support.common import REPO, SUBSET_R06, subset_file, unique
from support.exit_lines import bad_lines

pytestmark = pytest.mark.timeout(300)


def _cli() -> str:
    return str(Path(sys.executable).with_name("bci-stream"))


def _bad_lines(text: str) -> list[str]:
    return bad_lines(text)


class _Proc:
    """A subprocess whose stdout+stderr lines are collected by a thread (so it never blocks on a full pipe)."""

    def __init__(self, args: list[str], **kw: object) -> None:
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                  start_new_session=True, **kw)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert self.p.poll() is None, f"exited ({self.p.returncode}) before {pattern!r}:\n{self.text}"
            assert time.monotonic() < deadline, f"no line {pattern!r} within {timeout:g} s:\n{self.text}"
            time.sleep(0.1)

    def finish(self, timeout: float = 90.0) -> tuple[int, str]:
        try:
            rc = self.p.wait(timeout=timeout)
        finally:
            if self.p.poll() is None:
                os.killpg(self.p.pid, signal.SIGKILL)
        self._reader.join(timeout=10.0)
        return rc, self.text

    def kill(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(timeout=30)

    def session_left(self, wait: float) -> set[int]:
        """The processes of its session still alive after up to ``wait`` s (its workers, simulator...)."""
        deadline = time.monotonic() + wait
        while (left := _session_pids(self.p.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def kill_session(self) -> None:
        """It and any process of its session left behind (the test's assertion names them)."""
        self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.p.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def short_npz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The first 20 s of real EEG (EEGMMIDB S001R06, 64 ch, 160 Hz) as an NPZ file, and its sample count."""
    from bci_stream.io import Recording, load_recording, save_npz

    rec = load_recording(subset_file(SUBSET_R06))
    n = int(round(20 * rec.sfreq))
    crop = Recording(data=rec.data[:, :n], sfreq=rec.sfreq, ch_names=rec.ch_names,
                     events=[e for e in rec.events if e.onset < n], source=f"{SUBSET_R06.name}[0:{n}]")
    return save_npz(crop, tmp_path_factory.mktemp("exit") / "S001R06_20s.npz"), n


CONSUMER = """
import sys, time, pylsl
name, expected = sys.argv[1], int(sys.argv[2])
inlet = pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{name}'", 1, 60.0)[0], max_buflen=120)
inlet.open_stream(timeout=30.0)
n, deadline = 0, time.monotonic() + 120.0
while n < expected and time.monotonic() < deadline:
    n += len(inlet.pull_chunk(timeout=0.2, max_samples=4096)[1])
time.sleep(2.0)  # slow to let go: the replay must wait for it, not vanish under its inlet
inlet.close_stream()
print(f"consumer received {n} samples", flush=True)
"""


def test_replay_waits_for_its_consumer_and_both_end_cleanly(short_npz):
    """`bci-stream replay FILE --name N` with a consumer that reads every sample and lets go 2 s later: the
    replay outlives that consumer's inlet, so neither process prints an error line; no sample is lost."""
    path, n = short_npz
    name = unique("exit-replay")
    consumer = _Proc([sys.executable, "-c", CONSUMER, name, str(n)])
    replay = _Proc([_cli(), "replay", str(path), "--name", name, "--speed", "8", "--wait-for-consumer", "60",
                    "--linger", "60"])
    try:
        rc_replay, out_replay = replay.finish(timeout=180)
        rc_consumer, out_consumer = consumer.finish(timeout=60)
    finally:
        replay.kill()
        consumer.kill()
    assert rc_consumer == 0 and f"consumer received {n} samples" in out_consumer, out_consumer
    assert rc_replay == 0 and f"pushed {n} samples" in out_replay, out_replay
    assert _bad_lines(out_consumer) == [], out_consumer
    assert _bad_lines(out_replay) == [], out_replay


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["streaming", "waiting-for-consumer"])
def test_replay_stops_cleanly_on_a_signal(short_npz, sig, phase):
    """A looping replay stopped by Ctrl-C or SIGTERM, while it streams or while it waits for a consumer
    (``--wait-for-consumer 600``: the wait is cut short): exit code 0, its count, no traceback."""
    path, _ = short_npz
    name = unique("exit-replay-sig")
    wait = ["--wait-for-consumer", "600"] if phase == "waiting-for-consumer" else []
    replay = _Proc([_cli(), "replay", str(path), "--name", name, "--loop", "--speed", "2", *wait])
    try:
        assert pylsl.resolve_bypred(f"name='{name}'", 1, 60.0), replay.text
        replay.wait_for_line(r"^replaying ", 30)
        time.sleep(0.5)
        os.killpg(replay.p.pid, sig)
        rc, out = replay.finish(timeout=60)
    finally:
        replay.kill()
    assert rc == 0, out
    m = re.search(r"^pushed (\d+) samples$", out, re.M)
    assert m and (int(m.group(1)) == 0) == (phase == "waiting-for-consumer"), out
    assert _bad_lines(out) == [], out




@pytest.mark.parametrize("delay", [0.0, 0.016, 0.03, 0.05])
def test_a_signal_as_a_replay_ends_prints_no_traceback(short_npz, delay):
    """The signal of a script stopping a replay once it has read every sample and let go (audit s67rec F1): it
    landed while liblsl destroyed the outlets (a KeyboardInterrupt in ``StreamOutlet.__del__``: "Exception ignored
    ... Traceback", 4 runs of 4 at these delays) or after the replay returned (the process ended by SIGINT). Now:
    exit code 0, its count, no traceback, whenever it lands."""
    path, n = short_npz
    name = unique("exit-replay-end")
    replay = _Proc([_cli(), "replay", str(path), "--name", name, "--speed", "16", "--wait-for-consumer", "60"])
    try:
        inlets = [pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{stream}'", 1, 60.0)[0], max_buflen=120)
                  for stream in (name, f"{name}-markers")]
        for inlet in inlets:
            inlet.open_stream(timeout=30.0)
        received, deadline = 0, time.monotonic() + 120.0
        while received < n and time.monotonic() < deadline:
            received += len(inlets[0].pull_chunk(timeout=0.2, max_samples=4096)[1])
        del inlet, inlets  # let go: the replay ends now
        time.sleep(delay)
        replay.p.send_signal(signal.SIGINT)
        rc, out = replay.finish(timeout=60)
    finally:
        replay.kill()
    assert received == n, (received, out)
    assert rc == 0 and f"pushed {n} samples" in out, (rc, out)
    assert not re.search(r"Traceback|Exception ignored|KeyboardInterrupt", out), out

def test_simulate_stopped_by_sigterm_says_its_count_and_exits_0():
    """`kill PID` of `bci-stream simulate` stops it as Ctrl-C does (before: ended by the signal, exit -15, no count)."""
    name = unique("exit-sim-term")
    sim = _Proc([_cli(), "simulate", "--name", name, "--n-chans", "4"])
    try:
        assert pylsl.resolve_bypred(f"name='{name}'", 1, 60.0), sim.text
        sim.wait_for_line(r"^streaming ", 30)
        sim.p.send_signal(signal.SIGTERM)
        rc, out = sim.finish(timeout=60)
    finally:
        sim.kill()
    assert rc == 0 and re.search(r"^pushed \d+ samples$", out, re.M), (rc, out)
    assert _bad_lines(out) == [], out

def test_simulate_stopped_while_it_sets_up_exits_0_without_aborted():
    """At 20 kHz its filters warm up for seconds before the stream is up: SIGTERM then printed click's 'Aborted!',
    exit 1, where --help promises exit 0 (audit s70sim F4)."""
    sim = _Proc([_cli(), "simulate", "--name", unique("exit-sim-setup"), "--n-chans", "64", "--sfreq", "20000"])
    try:
        sim.wait_for_line(r"^streaming ", 30)
        sim.p.send_signal(signal.SIGTERM)
        rc, out = sim.finish(timeout=60)
    finally:
        sim.kill()
    assert rc == 0 and re.search(r"^pushed \d+ samples$", out, re.M) and "Aborted" not in out, (rc, out)
    assert _bad_lines(out) == [], out


def _session_pids(sid: int) -> set[int]:
    """The live (not zombie) processes of session ``sid`` (from /proc): a ``serve`` started in a session of its own,
    its fork server and decoder workers."""
    pids = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            fields = stat[stat.rindex(")") + 2:].split() if stat else []
        except (OSError, ValueError):
            continue
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            pids.add(int(entry.name))
    return pids


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGTERM-group", "SIGHUP-group", "ctrl-c twice"])
def test_serve_with_a_running_decoder_stops_cleanly(how, tmp_path):
    """`bci-stream serve` decoding a live simulated stream, then Ctrl-C (SIGINT to its process group: the API
    process and its decoder workers) or SIGTERM to the API process: the decoders are stopped in order (the
    worker closes its inlet, then its outlets), nothing but INFO lines is printed, exit code 0 after either, and no
    process of its (worker, fork server) is left. After SIGTERM it ended by that signal once shut down (status -15,
    143 in a shell: uvicorn raises the signal it caught again), which a container or script checking for 0 took for
    a failure. SIGTERM to the whole process group (``timeout``, ``kill -- -PGID``, supervisord's ``killasgroup``,
    systemd's ``KillMode=control-group``) reaches the workers too: a worker it ended was taken for a crash, an ERROR
    line "exited with code 255 ...; restart 1/3" in a clean shutdown, and the worker ended at once, its recording
    left without its footers (audit s66cli F3): it now stops as on a Stop. The decoder records: its file is finished
    (every stream's footer) after each way. A closed terminal (SIGHUP to the group) ended the service at once, its
    recordings unfinished, and a second Ctrl-C within 0.1 s gave uvicorn's forced exit with a traceback (audit
    s69deploy F6, F7): both now shut down as SIGTERM does."""
    name = unique("exit-serve")
    sim = _Proc([_cli(), "simulate", "--name", name, "--n-chans", "64", "--sfreq", "160"])
    serve = _Proc([_cli(), "serve", "--port", "0"], env={**os.environ, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path)})
    try:
        url = f"http://127.0.0.1:{wait_bound_port(lambda: serve.text, serve.p)}"
        r = httpx.post(f"{url}/decoders", json={"stream": {"name": name}, "model": "sim-mi-gru",
                                                "options": {"record_path": "run.xdf"}}, timeout=30)
        assert r.status_code == 201, r.text
        decoder_id, deadline = r.json()["id"], time.monotonic() + 120
        while (st := httpx.get(f"{url}/decoders/{decoder_id}", timeout=10).json())["counters"].get(
                "samples_out", 0) < 100:
            assert st["state"] in ("starting", "connecting", "running") and time.monotonic() < deadline, st
            time.sleep(0.25)
        before = _session_pids(serve.p.pid)
        assert st["pid"] in before and len(before) >= 3, (st["pid"], before)  # serve, its fork server, the worker
        if how == "ctrl-c":
            os.killpg(serve.p.pid, signal.SIGINT)
        elif how == "ctrl-c twice":
            os.killpg(serve.p.pid, signal.SIGINT)
            time.sleep(0.1)
            os.killpg(serve.p.pid, signal.SIGINT)
        elif how == "SIGHUP-group":
            os.killpg(serve.p.pid, signal.SIGHUP)
        elif how == "SIGTERM-group":
            os.killpg(serve.p.pid, signal.SIGTERM)
        else:
            serve.p.send_signal(signal.SIGTERM)
        rc, out = serve.finish(timeout=90)
        left = serve.session_left(60)
        os.killpg(sim.p.pid, signal.SIGINT)  # the stream's producer goes last (its consumer left first)
        rc_sim, out_sim = sim.finish(timeout=60)
    finally:
        serve.kill_session()
        sim.kill()
    assert "Application shutdown complete" in out, out
    assert rc == 0, (rc, out)
    assert left == set(), (left, out)
    assert _bad_lines(out) == [], out
    assert rc_sim == 0 and _bad_lines(out_sim) == [], out_sim
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(tmp_path / "run.xdf"))
    assert streams and all(s.get("footer") for s in streams), [(s["info"]["name"], s.get("footer")) for s in streams]


# `bci-stream demo --duration N --port 0` (what `make demo` runs) ending without an error line, exit code 0 and
# decoded samples: tests/integration/test_demo.py's runs of the demo check it (its `_demo`, stdout and stderr together).


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGTERM to the group", "kill -INT, started ignoring it",
                                 "SIGTERM to the group while it connects"])
def test_demo_stopped_by_ctrl_c_prints_no_error_line(how):
    """Ctrl-C in the demo's terminal (SIGINT to its process group: the demo, its simulator, the decoder
    worker), or SIGTERM to the demo alone (`kill PID`): the demo stops the decoder, then the simulator; exit code 0,
    no traceback, no liblsl error, no process of its left (audit s66cli F11: after SIGTERM its simulator streamed on,
    with no end). SIGTERM to the group (`timeout`, systemd) killed the simulator, and the demo then hung for good
    stopping it; a demo a script started in the background (SIGINT ignored) went on after `kill -INT` (audit
    s68bench F1, F2). SIGTERM to the group while the decoder still connected: its worker was restarted as after a
    crash, then "Aborted!", with no "interrupted" nor "stopped:" line (audit s68readme F2)."""
    demo = _Proc([_cli(), "demo", "--port", "0"], **({"preexec_fn": _ignore_sigint} if "ignoring" in how else {}))
    early = how.endswith("while it connects")
    try:
        demo.wait_for_line(r"decoder \S+ started" if early else r"\] running .* out +[1-9]", 180)
        if how == "ctrl-c":
            os.killpg(demo.p.pid, signal.SIGINT)
        elif how.startswith("SIGTERM to the group"):
            os.killpg(demo.p.pid, signal.SIGTERM)
        elif "ignoring" in how:
            demo.p.send_signal(signal.SIGINT)
        else:
            demo.p.send_signal(signal.SIGTERM)
        rc, out = demo.finish(timeout=90)
        left = demo.session_left(30)
    finally:
        demo.kill_session()
    assert left == set(), (left, out)
    if early:  # exit 1 when nothing was decoded yet (the demo's rule), 0 after
        assert rc in (0, 1) and "interrupted" in out and "Aborted!" not in out, out  # (the worker the signal ended
        # may be restarted once before the demo's main thread takes the signal: a WARNING line, and DELETE ends it)
        assert re.search(r"stopped: \d+ samples in, \d+ decoded samples out", out), out
    else:
        assert rc == 0, out
        assert "interrupted" in out and re.search(r"stopped: \d+ samples in, [1-9]\d* decoded samples out", out), out
    assert _bad_lines(out) == [], out
