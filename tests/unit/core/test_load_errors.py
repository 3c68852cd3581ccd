"""Which model load failures a retry can cure (:mod:`bci_stream.core.load_errors`): real failures of real files,
in a child process where the failure needs a process limit (file descriptors, address space)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bci_stream.core.errors import ModelError, ModelUnavailableError
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.load_errors import TRANSIENT_ERRNOS, load_error, transient_cause
from bci_stream.engine.step_model import make_session

#: Runs in a child: ``limit`` (``nofile``: no descriptor left; ``as``: no address space left) then ``load`` (the
#: model's session, warmed), and prints the name of the error the service reports, and its message.
CHILD = textwrap.dedent("""
    import os, resource, sys
    from bci_stream.core.card import ModelCard
    from bci_stream.core.load_errors import load_error
    from bci_stream.engine.step_model import StepModel
    folder, limit = sys.argv[1], sys.argv[2]
    card = ModelCard.model_validate_json(open(os.path.join(folder, "model.json")).read())
    held = []
    if limit == "nofile":
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
    else:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size, resource.RLIM_INFINITY))
        reserve = bytearray(1 << 16)  # freed to say the error
        try:  # the free space left in the mappings (malloc's arenas) taken too, or a tiny model may fit in it
            while True:
                held.append(bytearray(1 << 12))
        except MemoryError:
            pass
    try:
        StepModel(os.path.join(folder, "model.onnx"), card).warm_up()
        print("loaded")
    except BaseException as exc:
        reserve = None
        error = load_error(exc, "the model")
        print(type(error).__name__, error, flush=True)
""")


def load_in_child(folder: Path, limit: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), limit], capture_output=True, text=True,
                          timeout=120)
    return done.stdout.strip() or done.stderr[-2000:]


def test_out_of_file_descriptors_is_transient(models_dir):
    out = load_in_child(models_dir / "tiny-gru", "nofile")
    assert out.startswith("ModelUnavailableError cannot load ") and "EMFILE" in out and "retry" in out, out


def test_out_of_address_space_is_transient(models_dir):
    out = load_in_child(models_dir / "tiny-gru", "as")
    assert out.startswith("ModelUnavailableError cannot load ") and "out of memory" in out, out


def test_a_directory_where_the_model_file_should_be_is_the_clients_to_fix(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    with pytest.raises(ModelError) as err:  # onnxruntime cannot parse it: permanent, as a corrupt file
        make_session(folder)
    assert not isinstance(err.value, ModelUnavailableError)
    with pytest.raises(IsADirectoryError) as exc:
        folder.open("rb")
    assert transient_cause(exc.value) is None
    assert type(load_error(exc.value, "x")) is ModelError


@pytest.mark.parametrize(("code", "transient"), [
    (errno.EAGAIN, True), (errno.EBUSY, True), (errno.ENOMEM, True), (errno.EMFILE, True), (errno.ENFILE, True),
    (errno.EINTR, True), (errno.ETIMEDOUT, True), (errno.EIO, True),
    (errno.ENOENT, False), (errno.EISDIR, False), (errno.EACCES, False), (errno.EPERM, False), (errno.ENOTDIR, False),
])
def test_the_errno_rule(code, transient):
    exc = OSError(code, "text")
    assert (transient_cause(exc) is not None) is transient and (code in TRANSIENT_ERRNOS) is transient
    assert type(load_error(exc, "model 'm'")) is (ModelUnavailableError if transient else ModelError)


def test_ours_are_reported_as_they_are():
    exc = ModelError("model 'm' is card format 1")
    assert load_error(exc, "model 'm'") is exc
    assert isinstance(load_error(MemoryError(), "model 'm'"), ModelUnavailableError)


def test_the_registry_says_a_directory_in_place_of_the_model_file_is_not_a_file(models_dir, tmp_path):
    shutil.copytree(models_dir / "tiny-gru", tmp_path / "tiny-gru")
    (tmp_path / "tiny-gru" / "model.onnx").unlink()
    (tmp_path / "tiny-gru" / "model.onnx").mkdir()
    with pytest.raises(ModelError, match=r"ONNX file .*model\.onnx is not a regular file$"):
        ModelRegistry(str(tmp_path)).get("tiny-gru")


@pytest.mark.parametrize("code", [errno.EIO, errno.EMFILE, errno.ENOMEM])
def test_a_card_that_cannot_be_read_now_is_unavailable_not_missing(models_dir, tmp_path, monkeypatch, code):
    """An errno a retry can cure while reading ``model.json`` (injected: a real EIO cannot be made on demand) is
    ModelUnavailableError (503), not a model that is not there (404/422); the listing names it as a problem."""
    shutil.copytree(models_dir / "tiny-gru", tmp_path / "tiny-gru")
    real = Path.read_text

    def flaky(self, *args, **kwargs):
        if self.name == "model.json":
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", flaky)
    registry = ModelRegistry(str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=rf"model card .*model\.json now: {errno.errorcode[code]}"):
        registry.get("tiny-gru")
    assert registry.scan()[0] == [] and errno.errorcode[code] in registry.scan()[1][0]
    monkeypatch.setattr(Path, "read_text", real)
    assert registry.get("tiny-gru").card.name == "tiny-gru"  # the retry the 503 asks for
