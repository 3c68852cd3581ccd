"""A file that is no checkpoint, given as MODEL, is refused in one sentence of bci-stream's (audit s61train F4: before,
torch's whole text followed, advising to load the file with ``weights_only=False`` and to file a PyTorch issue)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from bci_stream.core.errors import ModelError  # noqa: E402
from bci_stream.train.checkpoint import load_checkpoint  # noqa: E402


@pytest.mark.parametrize("content", [b"[data]\ntrain = []\n", b"garbage", b"junk\n"], ids=["a toml", "bytes", "text"])
def test_a_file_that_is_no_checkpoint_is_refused_in_one_sentence(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    said = str(info.value)
    assert said.startswith(f"checkpoint {path} is not a readable torch checkpoint (cut short or corrupt?): "), said
    assert said.endswith("(a checkpoint.pt that `bci-stream train` wrote is one; a model folder or registry name is "
                         "another MODEL)"), said
    assert "weights_only" not in said and "file an issue" not in said and "\n" not in said, said
    reason = said.split("corrupt?): ", 1)[1]  # a reason in words (audit s66cli F13: 'junk' gave a bare number)
    assert any(c.isalpha() for c in reason.split(" (a checkpoint.pt")[0]), said
