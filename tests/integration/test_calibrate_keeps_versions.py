"""Audit s46 (reproducibility S10): the registry kept one version per name, so a recalibration (``calibrate
--overwrite``) removed the version it replaced, and a service restarted with a config file's decoder pinned to it
(``model = "s01@1.0.0"``, for an auditable deployment) did not start that decoder, while ``/ready`` stayed green. Now
the version replaced is kept whole in a folder of the model's (``OUT/s01/1.0.0/``): the pinned decoder starts on
exactly its bytes, and ``s01`` alone is the newest. Real calibrations of the repository's S001 subset, a real
server."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from bci_stream.api.server import BackgroundServer
from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from support.common import SUBSET_S001_21CH, unique
from support.http import wait_status
from support.marked import FAST_CHANNELS


def calibrate(out: Path, runs: tuple[str, ...], *extra: str) -> str:
    """``bci-stream calibrate`` through its real CLI, in this process (click's runner: stdout and stderr as printed;
    the training libraries are imported once for the four calibrations, not once per subprocess)."""
    res = CliRunner().invoke(main, ["calibrate", *(str(SUBSET_S001_21CH / f"S001R{r}.edf") for r in runs),
                                    "--labels", "T1=fists,T2=feet", "--name", "s01", "--out", str(out), "--no-average",
                                    "--no-recurrent", "--no-combined", "--channels", ",".join(FAST_CHANNELS),
                                    "--no-progress", *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output[-6000:]
    return res.output


def test_a_recalibration_keeps_the_version_it_replaces_and_a_decoder_pinned_to_it_starts(tmp_path: Path) -> None:
    models = tmp_path / "models"
    calibrate(models, ("05", "06"))
    first = ModelRegistry(models).get("s01").card
    out = calibrate(models, ("05", "06", "09"), "--overwrite")
    assert (f"--overwrite: replacing model s01@1.0.0 (sha256 {first.sha256[:12]}) in {models / 's01'}; it is kept "
            f"in {models / 's01' / '1.0.0'} (s01@1.0.0 still resolves; remove that folder once nothing asks for that "
            "version)") in out, out
    out = calibrate(models, ("05", "09"), "--overwrite")  # a third: both earlier versions kept, side by side
    assert "other files are kept" not in out, out  # 1.0.0/ is calibrate's own (before: warned of, audit s63readme F3)
    (models / "s01" / "NOTES.txt").write_text("the lab's notes on s01")
    out = calibrate(models, ("05", "06", "09"), "--overwrite")  # a fourth: the lab's file is named, the versions not
    assert ("the folder's other files are kept from the version this one replaces (NOTES.txt): check that they "
            "describe this model, or remove them") in out, out
    registry = ModelRegistry(models)
    entries, problems = registry.scan()
    assert problems == [] and [(e.card.ref, e.directory.relative_to(models)) for e in entries] == [
        ("s01@1.0.0", Path("s01/1.0.0")), ("s01@1.0.1", Path("s01/1.0.1")), ("s01@1.0.2", Path("s01/1.0.2")),
        ("s01@1.0.3", Path("s01"))]
    assert registry.get("s01@1.0.0").card.sha256 == first.sha256  # the same bytes, verified
    assert registry.get("s01").card.version == "1.0.3"
    assert (models / "s01" / "1.0.0" / "report" / "report.json").is_file()  # kept whole, its report too

    pinned = {"id": "pinned", "stream": {"name": unique("never")}, "model": "s01@1.0.0",
              "options": {"resolve_timeout": 600}}
    settings = Settings(host="127.0.0.1", port=0, models_dir=models, recordings_dir=tmp_path / "rec",
                        decoders=[pinned])
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        ready = client.get("/ready").json()
        assert ready["decoders_not_started"] == [] and ready["model_problems"] == [], ready
        st = wait_status(client, "pinned", lambda s: s["model"] is not None, 60, "the pinned model loaded")
        assert (st["model"]["version"], st["model"]["sha256"]) == ("1.0.0", first.sha256), st
