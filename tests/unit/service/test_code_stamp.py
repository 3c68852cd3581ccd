"""The stamp of the package's source: it changes with any source file's content or name, and a worker compares
the service's stamp (inherited in its environment) with the code it runs."""

from __future__ import annotations

from bci_stream.service.code_stamp import ENV, code_changed, source_stamp


def test_the_stamp_follows_every_source_file(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 2\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    first = source_stamp(tmp_path / "pkg")
    assert len(first) == 16 and source_stamp(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "notes.txt").write_text("still not code")
    assert source_stamp(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 3\n")
    changed = source_stamp(tmp_path / "pkg")
    assert changed != first
    (tmp_path / "pkg" / "sub" / "b.py").rename(tmp_path / "pkg" / "sub" / "c.py")
    assert source_stamp(tmp_path / "pkg") not in (first, changed)
    now = source_stamp(tmp_path / "pkg")
    (tmp_path / "pkg" / "train").mkdir()  # the trainer: workers never import it, editing it under serve is fine
    (tmp_path / "pkg" / "train" / "calibrate.py").write_text("X = 1\n")
    assert source_stamp(tmp_path / "pkg") == now


def test_a_worker_checks_only_when_its_service_gave_a_stamp(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert code_changed() is None
    monkeypatch.setenv(ENV, source_stamp())
    assert code_changed() is None
    monkeypatch.setenv(ENV, "0123456789abcdef")
    why = code_changed()
    assert why is not None and "the bci-stream code on disk changed since serve started" in why
    assert "0123456789abcdef" in why and why.endswith("restart serve")
