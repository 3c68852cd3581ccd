"""What ``bci-stream train`` learns from every sample leaves out the bad spans (a NaN stretch held at the last finite
value plus its settling, ``BAD_*`` marks, ``data.bad_events``): the distillation term (KL to the teacher) and the
output scaling of the CSP spatial initialisation. The CE term already skipped them (label -1); the KL still covers
the unlabelled samples outside the spans (rest, trials reaching into a span), where distillation is what teaches
the student.

Real EEG: the repository's S001 R06 written by mne as FIF with a NaN stretch on C3/Cz and a ``BAD_blink`` mark
(:func:`support.marked.marked_fif`), R05 as its EDF; the tiny config of the other train tests, T0 (rest) unlabelled.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.io import load_recording  # noqa: E402
from bci_stream.train.classical.bad_spans import settle_s  # noqa: E402
from bci_stream.train.config import load_config  # noqa: E402
from bci_stream.train.dataset import Dataset, prepare_dataset  # noqa: E402
from bci_stream.train.distributed import DistContext  # noqa: E402
from bci_stream.train.evaluate.baseline import csp_filters  # noqa: E402
from bci_stream.train.loop import fit, future_context, make_batch, segment_length  # noqa: E402
from bci_stream.train.nets.heads import soft_target_kl  # noqa: E402
from bci_stream.train.run import _with_soft_targets, build_bidirectional, build_causal  # noqa: E402
from support.marked import R06, SFREQ, marked_fif  # noqa: E402
from support.train_data import tiny_config_text  # noqa: E402

NAN_S = (10.0, 10.5)  # C3 and Cz, training part of R06
BLINK = (25.0, 1.0, "BAD_blink")  # training part of R06


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Dataset, Path]:
    out = tmp_path_factory.mktemp("held_kl")
    chans = load_recording(R06).ch_names
    rows = [i for i, c in enumerate(chans) if c.rstrip(".").lower() in ("c3", "cz")]
    r06 = marked_fif(out / "r06_raw.fif", src=R06, extra=[BLINK], nan=[(rows, *NAN_S, np.nan)])
    text = tiny_config_text(out / "run").replace('train = ["S001R06.edf", "S001R05.edf"]',
                                                 f'train = ["{r06}", "S001R05.edf"]')
    text = text.replace('tail_files = ["S001R06.edf"]', f'tail_files = ["{r06}"]').replace('T0 = "rest"', 'T0 = ""')
    (out / "run.toml").write_text(text, encoding="utf-8")
    config = load_config(out / "run.toml")
    return config, prepare_dataset(config), r06


def _r06_train(ds: Dataset, r06: Path):
    (seq,) = [s for s in ds.train if Path(s.source) == r06]
    return seq


def test_the_bad_mask_is_the_bad_spans_not_every_unlabelled_sample(held) -> None:
    _, ds, r06 = held
    seq = _r06_train(ds, r06)
    a, b = (int(round(t * SFREQ)) for t in NAN_S)
    want = np.zeros(seq.n_times, dtype=bool)
    want[a:b + int(np.ceil(settle_s(SFREQ) * SFREQ))] = True  # the held stretch and its settling
    want[int(BLINK[0] * SFREQ):int((BLINK[0] + BLINK[1]) * SFREQ)] = True
    np.testing.assert_array_equal(seq.bad, want)
    assert (seq.labels[seq.bad] == -1).all()
    assert (seq.labels[~seq.bad] == -1).sum() > 10 * SFREQ  # rest and cut trials: unlabelled, not bad
    assert not any(s.bad.any() for s in ds.train + ds.validation + ds.test if Path(s.source) != r06)
    # the teacher's soft targets keep the mask; every batch row carries its segment's mask
    soft = _with_soft_targets(build_bidirectional(held[0], ds.n_chans, len(ds.label_names), None), ds.train)
    assert all(s.bad is q.bad for s, q in zip(soft, ds.train))
    batch = make_batch(soft, 960, 0, 37, DistContext(), np.random.default_rng(0))
    rows = {q.x[a:a + 960].tobytes(): q.bad[a:a + 960] for q in soft for a in range(37, q.n_times - 960 + 1, 960)}
    for x, bad in zip(batch.x.numpy(), batch.bad.numpy()):
        np.testing.assert_array_equal(bad, rows[x.tobytes()])
    assert batch.bad.any()


def test_soft_target_kl_keep_leaves_samples_out_of_the_sum_and_the_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    eta = torch.randn(2, 5, 3, generator=gen, requires_grad=True)
    probs = torch.softmax(torch.randn(2, 5, 3, generator=gen), -1)
    keep = torch.tensor([[True, False, True, True, False], [False, True, True, True, True]])
    kl, m = soft_target_kl(eta, probs, 2.0, keep=keep)
    full, n = soft_target_kl(eta, probs, 2.0)
    assert (m, n) == (7, 10) and 0 < float(kl.detach()) < float(full.detach())
    kl.backward()
    assert (eta.grad[~keep] == 0).all() and (eta.grad[keep] != 0).any()
    eta.grad = None  # a non-finite target on a sample left out reaches neither the sum nor the gradient
    kl, _ = soft_target_kl(eta, torch.where(keep[..., None], probs, float("nan")), 2.0, keep=keep)
    kl.backward()
    assert torch.isfinite(kl) and torch.isfinite(eta.grad).all() and (eta.grad[~keep] == 0).all()
    with pytest.raises(ValueError, match=r"keep must be a bool tensor of shape \(2, 5\)"):
        soft_target_kl(eta, probs, keep=keep[0])


def _distil(config, ds: Dataset, seqs: list) -> str:
    torch.manual_seed(0)
    net = build_causal(config, ds.n_chans, len(ds.label_names))
    cfg = config.training.model_copy(update={"epochs": 1})
    res = fit(copy.deepcopy(net), seqs, ds.validation, cfg, ds.sfreq, DistContext(), seed=5,
              distill=config.evaluation.distillation, progress=False)
    return res.param_digests[0]


def test_a_distilled_student_learns_nothing_from_the_teacher_on_held_or_marked_samples(held) -> None:
    """One epoch of distillation, twice: with the teacher's targets inside the bad spans replaced, the student ends
    with the same weights; with those of unlabelled samples outside the spans replaced, it does not."""
    config, ds, r06 = held
    torch.set_num_threads(1)
    assert future_context(build_causal(config, ds.n_chans, 3), config.training, ds.sfreq) == 0
    seg, _ = segment_length(ds.train, config.training, ds.sfreq, 0)
    assert seg < int(NAN_S[0] * SFREQ)  # the held stretch falls inside a training segment whatever the offset
    teacher = build_bidirectional(config, ds.n_chans, len(ds.label_names), None)
    seqs = _with_soft_targets(teacher, ds.train)

    def replaced(where: str) -> list:
        out = []
        for s in seqs:
            pick = s.bad if where == "bad" else (s.labels == -1) & ~s.bad
            soft = s.soft.copy()
            soft[pick] = np.eye(soft.shape[1], dtype=np.float32)[0]  # a confident, different teacher
            out.append(dataclasses.replace(s, soft=soft))
        return out

    assert _r06_train(ds, r06).bad.sum() > SFREQ
    base = _distil(config, ds, seqs)
    assert _distil(config, ds, replaced("bad")) == base
    assert _distil(config, ds, replaced("unlabelled")) != base  # distillation on rest is intended


def test_csp_initialisation_ignores_the_values_of_held_and_marked_samples(held) -> None:
    """Changing what the preprocessed sequences hold inside the bad spans changes neither the CSP filters' output
    scaling nor, with an epoch long enough to reach a span, their covariances; without the mask both change."""
    _, ds, r06 = held
    changed = []
    for s in ds.train:
        x = s.x.copy()
        x[s.bad] = 3.0 * x[s.bad] + 2.0  # another held level, another artefact
        changed.append((x.T, s.labels, s.bad))
    parts = [(s.x.T, s.labels, s.bad) for s in ds.train]
    for window in ((0.5, 2.5), (0.5, 6.0)):  # 6 s reaches a span from trials the 4 s reach kept labelled
        args = (ds.sfreq, ds.trial_class_ids, 4)
        w = csp_filters(parts, *args, window_s=window)
        np.testing.assert_array_equal(csp_filters(changed, *args, window_s=window), w)
        blind = csp_filters([p[:2] for p in changed], *args, window_s=window)
        assert not np.allclose(blind, w, rtol=1e-3), window
    assert np.isfinite(w).all() and np.abs(w).max() > 0


def test_csp_initialisation_without_a_usable_trial_of_a_class_names_the_keys(held) -> None:
    """Every trial's window in a bad span: a config error naming model.spatial_init and evaluation.csp_window_s,
    which `bci-stream train` prints as one error line (review s20 F4), not a bare ValueError."""
    from bci_stream.train.config import ConfigError

    _, ds, _ = held
    parts = [(s.x.T, s.labels, np.ones_like(s.bad)) for s in ds.train]
    with pytest.raises(ConfigError, match=r"model.spatial_init = 'csp' needs .*evaluation.csp_window_s = \(0.5, 2.5\)"
                       r".*got \[0, 0\] per class"):
        csp_filters(parts, ds.sfreq, ds.trial_class_ids, 4, window_s=(0.5, 2.5))
