"""A client that resets the decoder on each cue marker ("reset the state at trial start") gets its reset applied some
samples after the cue. Such a reset, at most ``scoring.reset_grace_s`` after the cue's first output, starts the
trial: it is scored (``reset_at_start``), not ``interrupted``; a reset later in the trial still interrupts it. The
reset's answer says where the new state starts (``state_change``: ``state_epoch``, ``first_seq``), and the dashboard
shows the pending, missed and interrupted cues, with a hint when some were interrupted.

Real uvicorn server, real worker process, real LSL on loopback (stream names with "scorewt"), a real exported
CSP+LDA oracle (``left`` when C3 carries more power than C4), headless Debian Chromium for the dashboard. The
samples are pushed step by step with regular timestamps, and each reset is sent once the decoder has decoded every
sample pushed so far, so where it lands (its ``first_seq``) is known whatever the machine's load.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.dashboard_text import dashboard_page
from support.http import wait_status

CH = ["C3", "C4"]
SFREQ = 100.0
MAP = {"cue-left": "left", "cue-right": "right"}
DECISION_S = 1.0  # 100 samples after the cue

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("scorewt-reset")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    export_csp_lda(params, root / "oracle", name="oracle", version="1.0.0",
                   scoring={"marker_map": MAP, "decision_time_s": DECISION_S})
    return root


class Session:
    """Samples pushed on demand with regular timestamps (``SFREQ``), each cue marker with its sample's timestamp."""

    def __init__(self, name: str, n: int) -> None:
        self.outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
        self.markers = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                           "string", f"{name}-markers-src"))
        rng = np.random.default_rng(5)
        self.x = (3.0 * rng.standard_normal((n, 2))).astype(np.float32)
        self.ts = pylsl.local_clock() + 0.2 + np.arange(n) / SFREQ
        self.sent = 0

    def cue(self, value: str, trial: int = 250) -> None:
        """A cue at the next sample: its side 10x louder for ``trial`` samples, its marker with its timestamp."""
        i, side = self.sent, 0 if value == "cue-left" else 1
        self.x[i:i + trial, side] *= 10.0 / 3.0
        self.x[i:i + trial, 1 - side] /= 3.0
        self.push(1)
        self.markers.push_sample([value], float(self.ts[i]))

    def push(self, n: int, chunk: int = 10) -> None:
        for lo in range(self.sent, self.sent + n, chunk):
            hi = min(lo + chunk, self.sent + n)
            self.outlet.push_chunk(self.x[lo:hi], self.ts[lo:hi].tolist())
        self.sent += n


def reset_when_decoded(client: httpx.Client, decoder_id: str, session: Session) -> dict:
    """POST reset once every sample pushed so far is decoded: the reset's first sample is the next one."""
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == session.sent, 60, "all decoded")
    r = client.post(f"/decoders/{decoder_id}/reset")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_reset_on_the_cue_starts_the_trial_and_the_dashboard_shows_the_interrupted_ones(models, tmp_path):
    name = unique("scorewt-reset")
    session = Session(name, 1500)
    settings = Settings(host="127.0.0.1", port=0, models_dir=models, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30.0) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle"})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                    and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        session.push(100)

        # 1: the client resets 4 samples after the cue (its marker reached it late): the trial starts at the reset
        session.cue("cue-left")
        session.push(3)
        cue1 = session.sent - 4
        answer = reset_when_decoded(client, decoder_id, session)
        change = answer["state_change"]
        assert change["kind"] == "reset" and change["first_seq"] == cue1 + 4
        assert change["state_epoch"] == answer["counters"]["state_epoch"] == 1
        session.push(250)

        # 2: a reset half a second into the trial: interrupted, not scored
        session.cue("cue-right")
        session.push(50)
        assert reset_when_decoded(client, decoder_id, session)["state_change"]["state_epoch"] == 2
        session.push(250)

        # 3: reset before the cue (what the dashboard's hint advises): a plain trial
        reset_when_decoded(client, decoder_id, session)
        session.push(10)
        session.cue("cue-left")
        session.push(session.x.shape[0] - session.sent)
        st = wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] + s["scoring"]["interrupted"] >= 3,
                         60, "3 cues decided")
        sc = st["scoring"]
        assert (sc["trials"], sc["correct"], sc["interrupted"], sc["missed"], sc["pending"]) == (2, 2, 1, 0, 0), sc
        assert sc["reset_at_start"] == 1 and sc["reset_grace_s"] == 0.2 and sc["model"] == "oracle@1.0.0"
        assert [(t["class"], t.get("reset_after_s")) for t in sc["last"]] == [("left", 0.04), ("left", None)]
        assert client.get(f"/decoders/{decoder_id}").json()["state_change"] is None  # only in a reset's answer

        dashboard(srv.url, decoder_id, tmp_path)
        client.delete(f"/decoders/{decoder_id}")
    del session


def dashboard(url: str, decoder_id: str, tmp_path: Path) -> None:
    """The panel shows 2/2, the cues not scored (1 interrupted) and the hint to reset before the cue."""
    with dashboard_page(url) as page:
        panel = f'section[data-decoder-id="{decoder_id}"]'
        page.wait_for_selector(f'{panel} .unscored[data-interrupted="1"]', timeout=60_000)
        accuracy = page.text_content(f"{panel} .accuracy")
        assert accuracy.startswith("2/2 = 100 %") and accuracy.endswith(", 1 from a reset on the cue"), accuracy
        assert page.text_content(f"{panel} .unscored") == "0 pending · 0 missed · 1 interrupted"
        hint = page.locator(f"{panel} .scoring-hint")
        assert hint.is_visible()
        assert hint.text_content() == ("1 cue(s) interrupted: the decoder was reset, restored or swapped between a "
                                       "cue and its decision, so they are not scored. Reset before pushing the "
                                       "cue (or within 200 ms after it).")
        page.screenshot(path=str(tmp_path / "dashboard-interrupted.png"), full_page=True)
