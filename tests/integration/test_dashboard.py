"""The web dashboard (``GET /``): its files, its place outside the OpenAPI schema, and the page itself in
headless Debian Chromium (driven by playwright, no downloaded browser) against a real uvicorn server, a
real worker process and a real LSL outlet (decoded, and recorded with no model: the Recordings table, its Stop,
its "not writing" note on a full disk).
"""

from __future__ import annotations

import fnmatch
import shutil
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pylsl
import pytest

from bci_stream.api.routers.dashboard import ASSETS
from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.dashboard_text import dashboard_page
from support.pacing import push_paced
from support.http import wait_status

STATIC = REPO / "bci_stream" / "api" / "static"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000  # generous: the machine is shared; nothing here measures speed


@pytest.fixture(scope="module")
def recordings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard-recordings")


@pytest.fixture(scope="module")
def server(models_dir: Path, recordings_dir: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1,
                                   recordings_dir=recordings_dir)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def test_page_script_and_style_are_served_same_origin_only(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.text
    assert '<script src="static/dashboard.js" defer></script>' in page
    assert '<link rel="stylesheet" href="static/dashboard.css">' in page
    assert "http://" not in page and "https://" not in page, "the page must not load anything from elsewhere"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"

    js = client.get("/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.content == (STATIC / "dashboard.js").read_bytes()
    css = client.get("/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"

    for name in ("nope.js", "..%2Fapp.py", "__init__.py"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 404, name
    assert client.get("/static/../app.py").status_code == 404


def test_dashboard_is_not_in_the_openapi_schema_and_docs_still_work(client):
    schema = client.get("/openapi.json").json()
    assert "/" not in schema["paths"] and "/static/{name}" not in schema["paths"]
    assert "/decoders" in schema["paths"] and "/status" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()


def test_every_static_file_is_package_data():
    """An installed wheel carries the dashboard: every file of ``static/`` matches the package-data globs,
    and every file the router serves exists."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["bci_stream.api"]
    files = sorted(p.relative_to(STATIC.parent).as_posix() for p in STATIC.iterdir() if p.is_file())
    assert set(ASSETS) <= {Path(f).name for f in files}
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert unshipped == [], f"not in [tool.setuptools.package-data]: {unshipped}"


# ---------------------------------------------------------------- the browser test

def chromium_path() -> str:
    """Debian's chromium, or a failure that says how to get it (never a silent skip)."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail("Debian's chromium is needed for the dashboard browser test and was not found on PATH or at "
                    "/usr/bin/chromium. `make test` installs it (target `browser`: apt-get install chromium).")
    return path


class PacedSender:
    """Pushes the test signal to an LSL outlet at real-time pace, in 0.5 s blocks, until stopped."""

    def __init__(self, outlet: pylsl.StreamOutlet) -> None:
        self.outlet = outlet
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="paced-sender", daemon=True)

    def _run(self) -> None:
        try:
            block = int(TINY_SFREQ // 2)
            t_next = pylsl.local_clock()
            seed = 0
            while not self.stop.is_set():
                x = test_signal(block, seed=seed)
                push_paced(self.outlet, x, TINY_SFREQ, chunk=10, t_start=t_next)
                t_next += block / TINY_SFREQ
                seed += 1
        except BaseException as exc:  # reported by the test, never lost
            self.error = exc

    def __enter__(self) -> PacedSender:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10.0)
        if self.error is not None:
            raise self.error


def canvas_points(page, decoder_id: str) -> int:
    return int(page.get_attribute(f'section[data-decoder-id="{decoder_id}"] canvas.outputs', "data-points"))


def wait_page(page, predicate, what: str, timeout_s: float = WAIT_MS / 1000) -> None:
    """Poll ``predicate()`` from Python (the page's CSP forbids the eval behind ``wait_for_function``)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        page.wait_for_timeout(100)


def test_dashboard_in_headless_chromium(server, client, eeg_outlet, recordings_dir, tmp_path):
    """The page lists a decoder started after it loaded, its chart and histogram update from the
    WebSocket and the REST API, a second decoder publishing a decoded stream of the same name shows the status's
    note, and each goes away when its decoder is stopped. A recording of the stream (no model) started beside it is
    in the Recordings table, counting samples; its Stop button stops it (DELETE) and its row goes."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    outlet, info = eeg_outlet
    problems: list[str] = []
    not_found: list[tuple[str, frozenset[str]]] = []  # (url, the decoders deleted by then) of every 404 the page met
    deleted: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: not_found.append((r.url, frozenset(deleted))) if r.status == 404 else None)
            page.goto(f"{server.url}/")
            page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
            assert page.title() == "bci-stream dashboard"
            page.wait_for_selector("#empty", state="visible", timeout=WAIT_MS)

            r = client.post("/decoders", json={"stream": {"name": info.name()}, "model": "tiny-gru"})
            assert r.status_code == 201, r.text
            decoder_id = r.json()["id"]
            rec = client.post("/recordings", json={"stream": {"name": info.name()}, "out": "dash/cal.xdf"})
            assert rec.status_code == 201, rec.text
            rec_row = f'#recordings tbody tr[data-recording-id="{rec.json()["id"]}"]'
            # running, or stalled: no sample is sent yet, and running lasts stall_timeout_s (1 s), a window that
            # polling on a loaded machine may miss (as faults.kit.start_running waits)
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "the decoder to run")
            row = f'#decoders tbody tr[data-decoder-id="{decoder_id}"]'
            panel = f'section[data-decoder-id="{decoder_id}"]'
            with PacedSender(outlet):
                page.wait_for_selector(f"{row} .badge[data-state=running]", timeout=WAIT_MS)
                assert page.text_content(f"{row} th") == decoder_id
                assert "tiny-gru 1.0.0" in page.text_content(row)
                assert page.is_hidden("#empty")

                # the recording (started with the decoder): its row counts samples; Stop finishes its file
                page.wait_for_selector(f"{rec_row} .badge[data-state=recording]", timeout=WAIT_MS)
                wait_page(page, lambda: page.text_content(f"{rec_row} td:nth-child(4)") not in ("0", ""),
                          "samples in the recording's row")
                cells = [c.strip() for c in page.locator(f"{rec_row} > *").all_text_contents()]
                assert cells[0] == rec.json()["id"] and cells[1] == "recording" and cells[7:] == ["", "Stop"]
                assert cells[2] == f"{info.name()} · {TINY_SFREQ:g} Hz" and cells[6] == "dash/cal.xdf", cells
                assert page.is_hidden("#no-recordings")
                page.get_by_role("button", name=f"Stop recording {rec.json()['id']}").click()
                page.wait_for_selector(rec_row, state="detached", timeout=WAIT_MS)
                page.wait_for_selector("#no-recordings", state="visible", timeout=WAIT_MS)
                assert client.get(f"/recordings/{rec.json()['id']}").status_code == 404  # stopped and removed
                assert (recordings_dir / "dash" / "cal.xdf").stat().st_size > 0

                # the chart receives points over the WebSocket and redraws
                wait_page(page, lambda: canvas_points(page, decoder_id) > 0, "the first points on the chart")
                canvas = page.locator(f"{panel} canvas.outputs")
                page.wait_for_timeout(300)  # let the next animation frame draw
                first_points, first_png = canvas_points(page, decoder_id), canvas.screenshot()
                wait_page(page, lambda: canvas_points(page, decoder_id) > first_points + 100, "100 more points")
                page.wait_for_timeout(300)
                second_points, second_png = canvas_points(page, decoder_id), canvas.screenshot()
                assert second_points > first_points + 100
                assert second_png != first_png, "the output chart did not change while points arrived"

                # the current label is one of the model's labels; the histogram shows the end-to-end latency
                assert page.text_content(f"{panel} .now-label") in ("rest", "left", "right")
                assert page.text_content(f"{panel} .legend") == "restleftright"
                wait_page(page, lambda: "p99" in page.text_content(f"{panel} .hist-info"), "the latency histogram")
                assert page.get_attribute(f"{panel} canvas.latency", "aria-label").startswith(
                    "Latency histogram of e2e: p50 ")
                page.wait_for_selector(f"{panel} .percentiles tbody tr >> text=e2e", timeout=WAIT_MS)
                # decimated for display: 500 Hz -> every 5th sample, at most 100 points/s
                assert page.text_content(f"{panel} .ws-state") == "open, 1 in 5 samples"

                # the labelled controls: pausing stops the redraws (points keep arriving), resuming restarts them
                pause = page.get_by_role("button", name="Pause charts")
                pause.click()
                assert page.get_attribute("#pause", "aria-pressed") == "true"
                page.wait_for_timeout(300)
                paused_points, paused_png = canvas_points(page, decoder_id), canvas.screenshot()
                wait_page(page, lambda: canvas_points(page, decoder_id) > paused_points + 100, "points while paused")
                assert canvas.screenshot() == paused_png, "the chart was redrawn while paused"
                page.get_by_role("button", name="Resume charts").click()
                wait_page(page, lambda: canvas.screenshot() != paused_png, "a redraw after resuming")

                # a second decoder of the stream publishes a decoded stream of the same name: its panel says so
                r = client.post("/decoders", json={"stream": {"name": info.name()}, "model": "tiny-gru"})
                assert r.status_code == 201, r.text
                second = f'section[data-decoder-id="{r.json()["id"]}"]'
                page.wait_for_selector(f"{second} .output-note", state="visible", timeout=WAIT_MS)
                assert f"decoder '{decoder_id}' publishes a decoded stream named" in page.text_content(
                    f"{second} .output-note")
                assert page.is_hidden(f"{panel} .output-note")  # the first decoder's name was its own first
                deleted.add(r.json()["id"])
                assert client.delete(f"/decoders/{r.json()['id']}").status_code == 200
                page.wait_for_selector(second, state="detached", timeout=WAIT_MS)

                page.get_by_label("Latency stage").select_option("decode")
                assert page.text_content(f"{panel} .stage-name") == "decode"
                shot = tmp_path / "dashboard.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                print(f"dashboard screenshot: {shot}")

            deleted.add(decoder_id)
            assert client.delete(f"/decoders/{decoder_id}").status_code == 200
            page.wait_for_selector(panel, state="detached", timeout=WAIT_MS)
            page.wait_for_selector(row, state="detached", timeout=WAIT_MS)
            page.wait_for_selector("#empty", state="visible", timeout=WAIT_MS)
        finally:
            browser.close()
    # a panel's latency fetch in flight when its decoder was deleted answers 404 (the page then drops the panel), and
    # the browser logs each 404 as a console error: only those are allowed
    late = [u for u, gone in not_found if any(f"/decoders/{i}/" in u for i in gone)]
    assert len(late) == len(not_found), not_found
    notice = "console error: Failed to load resource: the server responded with a status of 404 (Not Found)"
    for _ in late:
        if notice in problems:
            problems.remove(notice)
    assert problems == [], problems


def test_a_decoder_without_a_stream_is_listed_as_connecting(server, client, tmp_path):
    """A decoder still waiting for its stream shows its state and no chart data, without errors."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    r = client.post("/decoders", json={"stream": {"name": "no-such-stream-for-the-dashboard"}, "model": "tiny-lstm"})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.goto(f"{server.url}/")
                row = f'#decoders tbody tr[data-decoder-id="{decoder_id}"]'
                page.wait_for_selector(f"{row} .badge[data-state=connecting]", timeout=WAIT_MS)
                panel = f'section[data-decoder-id="{decoder_id}"]'
                assert page.get_attribute(f"{panel} canvas.outputs", "data-points") == "0"
                assert page.text_content(f"{panel} .ws-state") == "closed"
            finally:
                browser.close()
    finally:
        client.delete(f"/decoders/{decoder_id}")
    assert problems == [], problems



def test_a_decoder_whose_stream_sends_nothing_yet_shows_no_latency_and_no_error(server, client):
    """A decoder connected to its stream (``running``, then ``stalled``: the stream sends nothing) has no latency
    yet: ``GET /decoders/{id}/latency`` is a 409 then, which a browser logs as a console error, so the page asks for
    it only once the status shows its worker decoded (CI: a 409 logged while a decoder waited for its first data)."""
    name = unique("dash-silent")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru"})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "connected")
        assert client.get(f"/decoders/{decoder_id}/latency").status_code == 409
        with dashboard_page(server.url) as page:  # fails on any console error meanwhile
            page.wait_for_selector(f'section[data-decoder-id="{decoder_id}"]', timeout=WAIT_MS)
            page.wait_for_timeout(5_000)  # two of the page's latency refreshes (every 2 s) and more
            assert client.get(f"/decoders/{decoder_id}").json()["counters"]["samples_out"] == 0
    finally:
        client.delete(f"/decoders/{decoder_id}")
        del outlet


def test_a_recording_whose_disk_is_full_shows_not_writing_in_its_row(models_dir, eeg_outlet, tmp_path):
    """The Recordings table's error cell says "not writing", the file and the cause, and counts the samples not written
    while the recording goes on (audit s69record F2: the row looked healthy while nothing reached the file)."""
    from playwright.sync_api import sync_playwright

    from support.small_disk import fill, small_disk

    outlet, info = eeg_outlet
    with small_disk(tmp_path / "small", "1m") as disk, \
            BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1,
                                      recordings_dir=disk)) as srv, \
            httpx.Client(base_url=srv.url, timeout=10.0) as client, PacedSender(outlet), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{srv.url}/")
            page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)
            rec = client.post("/recordings", json={"stream": {"name": info.name()}, "out": "full.xdf"})
            assert rec.status_code == 201, rec.text
            row = f'#recordings tbody tr[data-recording-id="{rec.json()["id"]}"]'
            page.wait_for_selector(f"{row} .badge[data-state=recording]", timeout=WAIT_MS)
            wait_page(page, lambda: page.text_content(f"{row} td:nth-child(4)") not in ("0", ""), "samples recorded")
            filler = fill(disk)
            cannot = f"not writing: recorder cannot write {disk / 'full.xdf'}: [Errno 28] No space left on device ("
            wait_page(page, lambda: page.text_content(f"{row} td.rec-error").startswith(cannot),
                      "the row's 'not writing' note")
            note = page.text_content(f"{row} td.rec-error")
            assert note.endswith(" samples not written)"), note
            assert int("".join(c for c in note[len(cannot):-len(" samples not written)")] if c.isdigit())) > 0, note
            assert page.text_content(f"{row} .badge") == "recording"
            filler.unlink()
        finally:
            browser.close()
