"""Markers beside a decoded stream, over real LSL on loopback with real workers and a real uvicorn server:
followed, recorded in the XDF file, sent to WebSocket clients, and scored live at the card's decision time.

The model is a hand-made CSP+LDA oracle exported with the real exporter: two channels, class ``left`` when
C3 carries more power than C4, ``right`` otherwise. The signal makes each cued trial show its class (one
trial shows the other class on purpose), so the live score is known in advance and must also equal the
offline computation from the recorded file.
"""

from __future__ import annotations

import json
import threading
import socket
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from bci_stream.core.spec import DecoderSpec
from bci_stream.io.session import read_session
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.supervisor import Supervisor
from support.common import unique
from support.http import wait_status
from support.lsl import cue_outlet, wait_for

CH = ["C3", "C4"]
SFREQ = 100.0
SPEED = 16.0  # samples are stamped and pushed 16x faster than real time (timestamps stay on local_clock)
RATE = SFREQ * SPEED
TRIAL, CUE_EVERY = 600, 700  # samples: the class shows for 600 samples after each cue, then 100 of rest
DECISION_S = 4.0  # 400 samples after the cue: recording time (0.25 s of timestamps at 16x)
MARKER_MAP = {"cue-left": "left", "cue-right": "right", "trial-start": None}


@pytest.fixture(scope="module")
def oracle_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("oracle-models")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    card = export_csp_lda(params, root / "oracle", name="oracle", version="1.0.0",
                          scoring={"marker_map": MARKER_MAP, "decision_time_s": DECISION_S})
    assert card.scoring.marker_map == MARKER_MAP and card.scoring.decision_time_s == DECISION_S
    return root


def session_signal(n_trials: int, wrong: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """C3/C4 noise; after a left cue C3 is 10x louder, after a right cue C4; trial ``wrong`` shows the other side.
    Returns the samples and the markers (sample index, value)."""
    rng = np.random.default_rng(seed)
    n = 300 + n_trials * CUE_EVERY + 300
    x = 3.0 * rng.standard_normal((n, 2))
    markers = []
    for k in range(n_trials):
        onset = 300 + k * CUE_EVERY
        side = k % 2
        shown = 1 - side if k == wrong else side
        x[onset:onset + TRIAL, shown] *= 10.0 / 3.0
        x[onset:onset + TRIAL, 1 - shown] /= 3.0
        markers.append((onset - 50, "trial-start"))
        markers.append((onset, "cue-left" if side == 0 else "cue-right"))
    return x.astype(np.float32), markers


def push_session(outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet, x: np.ndarray,
                 markers: list[tuple[int, str]], chunk: int = 10) -> np.ndarray:
    """Push samples at RATE on an absolute schedule, and each marker with its sample's timestamp as that
    sample's chunk goes out."""
    t0 = pylsl.local_clock() + 0.2
    ts = t0 + np.arange(len(x)) / RATE
    todo = sorted(markers)
    for i in range(0, len(x), chunk):
        wait = ts[min(i + chunk, len(x)) - 1] - pylsl.local_clock()
        if wait > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + chunk], ts[i:i + chunk].tolist())
        while todo and todo[0][0] < i + chunk:
            k, value = todo.pop(0)
            marker_outlet.push_sample([value], float(ts[k]))
    return ts


def offline_score(session, marker_map: dict, decision_s: float) -> list[dict]:
    """The trials as the definition says, from the recorded file alone."""
    t_markers = session.marker_times()
    ts, y, labels = session.output_timestamps, session.outputs, session.output_labels
    trials = []
    for (_, value), t in zip(session.markers, t_markers):
        cls = marker_map.get(value)
        if cls is None:
            continue
        i = int(np.flatnonzero(ts >= t)[0]) + int(round(decision_s * SFREQ))  # counted in samples
        trials.append({"value": value, "class": cls, "cue_t": float(t), "decision_t": float(ts[i]),
                       "predicted": labels[int(np.argmax(y[i]))], "correct": labels[int(np.argmax(y[i]))] == cls})
    return trials


class WsMarkers(threading.Thread):
    """Reads a decoder's WebSocket with ``?markers=true``: marker messages and output messages apart."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        super().__init__(daemon=True)
        self.ws = connect(url, max_size=None).__enter__()  # closed in close()
        self.markers: list[dict] = []
        self.outputs = 0
        self.other: list[dict] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                msg = json.loads(self.ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the server closed the socket
                return
            if msg.get("type") == "marker":
                self.markers.append(msg)
            elif "seq" in msg and "y" in msg:
                self.outputs += len(msg["seq"])
            else:
                self.other.append(msg)

    def close(self) -> None:
        self.stop_flag.set()
        self.join(5)
        self.ws.close()


def test_markers_are_followed_recorded_sent_and_scored_live(oracle_models, tmp_path):
    """10 cued trials (one showing the wrong class), 10 'trial-start' markers (no trial), on '<name>-markers'
    beside the EEG stream, found without being named: status scores 9/10 at the card's decision time, equal
    to the offline computation from the recorded XDF file; the WebSocket sends every marker once with its
    timestamp on this host's clock; the XDF file holds the markers with their own timestamps."""
    name = unique("mk")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    settings = Settings(host="127.0.0.1", port=0, models_dir=oracle_models, status_interval=0.1,
                        recordings_dir=tmp_path / "rec")
    n_trials, wrong = 10, 3
    x, markers = session_signal(n_trials, wrong)
    with BackgroundServer(settings) as srv:
        import httpx

        with httpx.Client(base_url=srv.url, timeout=60.0) as client:
            bad = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle",
                                                 "options": {"markers": {"marker_map": {"cue-left": "up"}}}})
            assert bad.status_code == 422
            (err,) = bad.json()["detail"]
            assert err["loc"] == ["body", "options", "markers", "marker_map"]
            assert err["msg"].startswith("options.markers.marker_map must map markers to output labels of model "
                                         "oracle@1.0.0 ['left', 'right'], got ['up']")

            r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle",
                                               "options": {"record_path": "markers.xdf"}})
            assert r.status_code == 201, r.text
            decoder_id = r.json()["id"]
            # up, its markers connected; "stalled" too: no sample is sent yet, and on a loaded machine the marker
            # inlet may connect after the decoder's 1 s stall timeout
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                        and (s.get("markers") or {}).get("state") == "connected", 60, "running, markers connected")
            st = client.get(f"/decoders/{decoder_id}").json()
            assert st["markers"]["stream"]["name"] == f"{name}-markers"
            assert st["markers"]["stream"]["source_id"] == f"{name}-markers-src"
            assert st["scoring"]["source"] == "card.scoring" and st["scoring"]["trials"] == 0
            ws = WsMarkers(srv.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs?markers=true")
            ws.start()
            time.sleep(0.5)  # the WebSocket session is open before the first marker
            push_session(outlet, marker_outlet, x, markers)
            st = wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] == n_trials
                             and s["counters"]["samples_out"] == len(x), 60, "every trial scored")
            wait_for(lambda: len(ws.markers) == len(markers), 30, "every marker on the WebSocket")
            time.sleep(0.3)
            ws.close()
            final = client.delete(f"/decoders/{decoder_id}").json()

    sc = final["scoring"]
    assert (sc["trials"], sc["correct"], sc["missed"], sc["pending"]) == (n_trials, n_trials - 1, 0, 0)
    assert sc["accuracy"] == pytest.approx(0.9) and sc["decision_time_s"] == DECISION_S
    assert sc["markers_not_trials"] == n_trials and sc["markers_unmapped"] == 0 and sc["unmapped_values"] == {}
    assert sc["per_class"] == {"left": {"trials": 5, "correct": 5 - (wrong % 2 == 0)},
                               "right": {"trials": 5, "correct": 5 - (wrong % 2 == 1)}}
    assert [t["correct"] for t in sc["last"]] == [k != wrong for k in range(n_trials)]
    assert final["markers"]["received"] == len(markers)

    session = read_session(tmp_path / "rec" / "markers.xdf")
    assert [v for _, v in session.markers] == [v for _, v in sorted(markers)]
    assert session.marker_stream["name"] == f"{name}-markers"
    assert len(session.outputs) == len(x)
    offline = offline_score(session, MARKER_MAP, DECISION_S)
    assert offline == sc["last"]  # the same trials, times and decisions as scored live

    assert [m["value"] for m in ws.markers] == [v for _, v in sorted(markers)]
    assert [m["index"] for m in ws.markers] == list(range(len(markers)))
    np.testing.assert_allclose([m["timestamp"] for m in ws.markers], session.marker_times(), rtol=0, atol=1e-9)
    assert [m["class"] for m in ws.markers] == [MARKER_MAP[v] for _, v in sorted(markers)]
    assert ws.outputs > 0 and ws.other == [] and all(m["dropped"] == 0 for m in ws.markers)
    del outlet, marker_outlet


@pytest.fixture()
def supervisor(oracle_models):
    sup = Supervisor(str(oracle_models), status_interval=0.1, max_restarts=0)
    yield sup
    sup.shutdown()


def start(sup: Supervisor, name: str, **options):
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "oracle", "options": options})
    card = ModelRegistry(sup.models_dir).get("oracle").card
    handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
    wait_for(lambda: handle.status.state == "running", 60, "the worker to be running")
    return handle


def test_a_marker_stream_that_is_absent_appears_and_vanishes_is_reported_not_fatal(supervisor):
    """Named explicitly, the marker stream is looked for while the decoder runs; once there its markers
    count; when it goes, the decoder carries on and status says the marker stream was lost."""
    name = unique("mk-absent")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    handle = start(supervisor, name, markers={"stream": {"name": f"{name}-cues", "type": "Markers"}})
    wait_for(lambda: (handle.status.markers or {}).get("state") == "searching", 30, "markers searching")
    assert handle.status.markers["predicate"] == (f"(name='{name}-cues' and type='Markers') and "
                                                  f"not(name='{name}' and source_id='{name}-src')")  # never the EEG
    x, _ = session_signal(1, wrong=-1)
    outlet.push_chunk(x[:200])
    wait_for(lambda: handle.status.counters.samples_out == 200, 30, "decoding without markers")
    cues = cue_outlet(name)
    wait_for(lambda: handle.status.markers["state"] == "connected", 30, "the marker stream found")
    time.sleep(0.3)
    cues.push_sample(["cue-right"])
    wait_for(lambda: handle.status.markers["received"] == 1, 30, "the marker received")
    assert handle.status.markers["last"]["value"] == "cue-right" and handle.status.markers["last"]["class"] == "right"
    assert handle.status.scoring["pending"] == 1  # its decision sample is not decoded yet
    del cues
    wait_for(lambda: handle.status.markers["state"] == "lost", 30, "the marker stream reported lost")
    assert "marker stream lost" in handle.status.markers["reason"] and handle.status.markers["error"] is None
    outlet.push_chunk(x[200:400])
    wait_for(lambda: handle.status.counters.samples_out == 400, 30, "decoding after the marker stream went")
    assert handle.status.state == "running" and handle.status.error is None
    del outlet


def test_a_marker_selector_that_matches_the_eeg_stream_itself_never_follows_it(supervisor):
    """``options.markers.stream`` naming the decoded stream (found by an exploratory run: its 64 channels read as
    ~10,000 markers a second, sent to every WebSocket client): the input is never the marker stream; a marker stream
    the selector also matches is followed."""
    name = unique("mk-self")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    handle = start(supervisor, name, markers={"stream": {"hostname": socket.gethostname(), "source_id": f"{name}-src"}})
    x, _ = session_signal(1, wrong=-1)
    outlet.push_chunk(x[:300])
    wait_for(lambda: handle.status.counters.samples_out == 300, 30, "decoding")
    time.sleep(1.5)  # a follower that took the EEG stream would be connected and counting by now
    assert handle.status.markers["state"] == "searching" and handle.status.markers["received"] == 0, \
        handle.status.markers
    assert handle.status.markers["reason"] == (  # said (before: null, audit s63fault F7)
        f"the marker selector source_id='{name}-src' and hostname='{socket.gethostname()}' matches the input stream "
        f"'{name}' itself, which is never read as markers: waiting for another stream it matches (select the marker "
        "stream by its own name or source_id)"), handle.status.markers["reason"]
    # mne-lsl's annotations beside it share its source_id: the selector matches them too, and they are followed
    sibling = pylsl.StreamOutlet(make_stream_info(f"{name}-annotations", "annotations", ["T1", "T2"],
                                                  pylsl.IRREGULAR_RATE, f"{name}-src", channel_format="double64"))
    wait_for(lambda: handle.status.markers["state"] == "connected", 30, "the annotations followed")
    assert handle.status.markers["stream"]["name"] == f"{name}-annotations" and handle.status.markers["reason"] is None
    del outlet, sibling


def test_mne_lsl_annotations_beside_the_stream_are_followed_with_the_options_marker_map(supervisor):
    """mne-lsl's PlayerLSL annotations ('<name>-annotations', type 'annotations', float64, one labelled
    channel per description holding the duration) are found beside the stream and read as their labels."""
    name = unique("mk-annot")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    info = make_stream_info(f"{name}-annotations", "annotations", ["T0", "T1", "T2"], pylsl.IRREGULAR_RATE,
                            f"{name}-src", channel_format="double64")  # mne-lsl uses the player's source_id
    annotations = pylsl.StreamOutlet(info)
    handle = start(supervisor, name, markers={"marker_map": {"T1": "left", "T2": "right"}, "decision_time_s": 0.1})
    wait_for(lambda: (handle.status.markers or {}).get("state") == "connected", 30, "annotations connected")
    assert handle.status.markers["stream"]["name"] == f"{name}-annotations"
    time.sleep(0.3)
    t0 = pylsl.local_clock()
    annotations.push_chunk([[0.0, 4.1, 0.0], [-1.0, 0.0, 0.0]], [t0, t0 + 0.01])
    x, _ = session_signal(1, wrong=-1)
    outlet.push_chunk(x[:100], (t0 - 0.5 + np.arange(100) / RATE).tolist())  # not yet at the decision time
    wait_for(lambda: handle.status.markers["received"] == 2, 30, "two annotations")
    assert [m[1] for m in handle.status.markers["recent"]] == ["T1", "T0"]
    assert handle.status.scoring["source"] == "options" and handle.status.scoring["markers_unmapped"] == 1
    assert handle.status.scoring["pending"] == 1
    del annotations, outlet


def test_the_dashboard_shows_the_markers_and_the_running_trial_accuracy(oracle_models, tmp_path):
    """Headless Debian Chromium (as tests/integration/test_dashboard.py): the decoder's panel names the marker
    stream, draws the markers, and shows the running accuracy from status (3 trials, all correct)."""
    import shutil

    import httpx
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is needed for the dashboard browser test (`make test` installs it)")
    name = unique("mk-dash")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    x, markers = session_signal(3, wrong=-1)
    problems: list[str] = []
    settings = Settings(host="127.0.0.1", port=0, models_dir=oracle_models, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            decoder_id = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle"}).json()["id"]
            wait_status(client, decoder_id, lambda s: (s.get("markers") or {}).get("state") == "connected", 60,
                        "markers connected")
            page.goto(f"{srv.url}/")
            panel = f'section[data-decoder-id="{decoder_id}"]'
            page.wait_for_selector(f"{panel} .marker-info:has-text('{name}-markers')", timeout=60_000)
            assert page.text_content(f"{panel} .accuracy") == "no trial yet (decided 4 s after each cue)"
            page.wait_for_selector(f"{panel} .ws-state:has-text('open')", timeout=60_000)
            push_session(outlet, marker_outlet, x, markers)
            page.wait_for_selector(f'{panel} .accuracy[data-trials="3"]', timeout=60_000)
            assert page.text_content(f"{panel} .accuracy") == "3/3 = 100 % (95 % CI 44–100 %) at 4 s"
            assert page.text_content(f"{panel} .marker-info") == f"{name}-markers: 6 received"
            page.screenshot(path=str(tmp_path / "dashboard-markers.png"), full_page=True)
            client.delete(f"/decoders/{decoder_id}")
        finally:
            browser.close()
    assert problems == [], problems
    del outlet, marker_outlet


def test_markers_none_of_which_cues_a_trial_are_said_in_the_recording_and_its_end_too(oracle_models, tmp_path):
    """``scoring.map_warning`` was in the status only: a service run from a terminal, or a recording's reader, never
    heard that no trial could be scored. Now it is a ``map_warning`` event (and a log warning) once, and its end once
    a marker of the map cues a trial."""
    sup = Supervisor(str(oracle_models), status_interval=0.1, max_restarts=0, recordings_dir=str(tmp_path))
    name = unique("mk-unmapped")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    try:
        handle = start(sup, name, record_path="unmapped.xdf")
        wait_for(lambda: (handle.status.markers or {}).get("state") == "connected", 60, "markers connected")
        x, _ = session_signal(1, wrong=-1)
        outlet.push_chunk(x[:100])
        for k in range(7):  # a stimulus program's own names, none in the card's map
            marker_outlet.push_sample([f"stim-{k % 2}"])
        wait_for(lambda: (handle.status.scoring or {}).get("map_warning") is not None, 30, "the map warning")
        marker_outlet.push_sample(["cue-left"])  # one of the map: a trial is cued, the warning ends
        wait_for(lambda: handle.status.scoring["map_warning"] is None, 30, "the warning's end")
        outlet.push_chunk(x[100:200])
        wait_for(lambda: handle.status.counters.samples_out == 200, 30, "every sample decoded")
        time.sleep(0.3)  # a status interval or two: the end is recorded at the report that said it
    finally:
        sup.shutdown()
    said = [e for _, e in read_session(tmp_path / "unmapped.xdf").events if e["event"] == "map_warning"]
    assert len(said) == 2 and "markers received and none is a cue of the map" in said[0]["message"], said
    assert said[1]["message"] is None, said
    del outlet, marker_outlet
