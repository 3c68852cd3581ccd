"""Subjects for cross-subject pretraining: their runs of one task, and a label-free per-subject front-end.

Per subject (:class:`SubjectData`): the runs of its task in recording order (a :class:`~.prepared.Prepared`),
which run calibrates (``calib``: the first *imagery* run of the task, 15 cues) and which are tested
(``test``: every later run of the task). The front-end (:func:`front_end`) uses the calibration run only and
no labels (the cue onsets, not their classes):

* **Euclidean alignment** (He & Wu 2019, the Euclidean form of Zanini et al. 2018's re-centring): ``R`` is
  the mean covariance of the band-passed cue windows of the calibration run; the signals are whitened with
  the symmetric ``R^(-1/2)``, so every subject's average cue covariance is the identity and the channels keep
  their places;
* per aligned channel, the causal running log power: exactly the CSP+LDA graph's ``z_t`` with
  ``filters = R^(-1/2)`` (:func:`~.reference.running_log_power`), standardised by its mean and standard
  deviation over the calibration run (a re-centring of the features).

So a model trained on aligned, standardised features of other subjects reads a new subject's features on
the same scale after one calibration run, and the whole front-end is a CSP+LDA front-end
(:class:`~.params.CspLdaParams`): the residual step graph (:mod:`.residual_graph`) exports it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bci_stream.train.classical.configs import CspConfig
from bci_stream.train.classical.prepared import Prepared
from bci_stream.train.classical.reference import running_log_power, shrink, smoothing_factor


@dataclass(frozen=True)
class TaskSpec:
    """An EEGMMIDB task: its runs (recording order), the event -> class map, the calibration run."""

    runs: tuple[int, ...]
    labels: dict[str, str]
    calib_run: int


#: EEGMMIDB: R05/R09/R13 executed and R06/R10/R14 imagined fists/feet; R03/R07/R11 executed and R04/R08/R12
#: imagined left/right fist. Calibration = the first imagery run of the task (R06, R04).
TASKS: dict[str, TaskSpec] = {
    "fists_feet": TaskSpec((5, 6, 9, 10, 13, 14), {"T1": "fists", "T2": "feet"}, 6),
    "left_right": TaskSpec((3, 4, 7, 8, 11, 12), {"T1": "left_fist", "T2": "right_fist"}, 4),
}
SUBJECT_TASKS: dict[str, str] = {"S001": "fists_feet", "S002": "fists_feet", "S004": "left_right",
                                 "S005": "left_right"}


@dataclass(frozen=True)
class FrontEndConfig:
    """The label-free front-end (module docstring): causal band-pass, channels, alignment, running power.

    Attributes
    ----------
    band, channels, filter_order
        Causal Butterworth band-pass (Hz) and channel set (as :class:`~.configs.CspConfig`).
    tau_s
        Time constant of the running power, seconds.
    align_window
        Seconds after each calibration cue whose band-passed samples give the alignment covariance.
    align_shrinkage
        Shrinkage of ``R`` towards ``trace(R)/n I`` before ``R^(-1/2)``.
    """

    band: tuple[float, float] = (8.0, 30.0)
    channels: str = "sensorimotor"
    filter_order: int = 4
    tau_s: float = 0.5
    align_window: tuple[float, float] = (0.0, 4.0)
    align_shrinkage: float = 0.01

    def csp_config(self) -> CspConfig:
        """The CSP config whose preprocessing (band, channels, no CAR) the front-end uses."""
        return CspConfig(band=self.band, car=False, channels=self.channels, tau_s=self.tau_s,
                         filter_order=self.filter_order)


@dataclass
class FrontEnd:
    """A subject's fitted front-end: ``z = log running power(u @ filters)``, ``zs = (z - in_mean) / in_std``."""

    ch_names: list[str]
    filters: np.ndarray  # [C, C] = R^(-1/2)
    power_init: np.ndarray  # [C]
    in_mean: np.ndarray  # [C]
    in_std: np.ndarray  # [C]


@dataclass
class SubjectData:
    """One subject's runs of its task, its calibration/test runs and (after :func:`prepare`) its features."""

    name: str
    task: str
    prep: Prepared
    run_numbers: list[int]
    calib: int
    test: list[int]
    fe: FrontEnd | None = None
    zs: list[np.ndarray] = field(default_factory=list)  # standardised features per run, float32 [T, C]

    @property
    def labels(self) -> list[str]:
        return list(self.prep.labels)


def front_end(prep: Prepared, calib: int, cfg: FrontEndConfig) -> FrontEnd:
    """Fit the alignment and the feature statistics on run ``calib`` of ``prep`` (no labels used)."""
    names, _, u_runs = prep.filtered(cfg.csp_config())
    u, run = u_runs[calib], prep.runs[calib]
    w0, w1 = (int(round(w * prep.sfreq)) for w in cfg.align_window)
    segs = [u[o + w0:min(o + w1, len(u))] for o in run.trials.onsets if o + w0 < len(u)]
    if not segs:
        raise ValueError(f"calibration run {run.source} has no cue window to align on (align_window "
                         f"{cfg.align_window} s, {len(run.trials)} cues)")
    r = np.mean([s.T @ s / len(s) for s in segs], axis=0)
    w, v = np.linalg.eigh(shrink(r, cfg.align_shrinkage))
    if not w.min() > 0:
        raise ValueError(f"alignment covariance of {run.source} must be positive definite, got smallest "
                         f"eigenvalue {w.min():.3g}")
    filters = (v / np.sqrt(w)) @ v.T
    s = u @ filters
    power_init = np.mean(s * s, axis=0)
    z = running_log_power(s, smoothing_factor(cfg.tau_s, prep.sfreq), power_init)
    return FrontEnd(ch_names=names, filters=filters, power_init=power_init, in_mean=z.mean(axis=0),
                    in_std=np.maximum(z.std(axis=0), 1e-6))


def features(prep: Prepared, fe: FrontEnd, cfg: FrontEndConfig) -> list[np.ndarray]:
    """The standardised features ``zs [T, C]`` (float32) of every run of ``prep``, each from its first sample."""
    _, _, u_runs = prep.filtered(cfg.csp_config())
    a = smoothing_factor(cfg.tau_s, prep.sfreq)
    return [((running_log_power(u @ fe.filters, a, fe.power_init) - fe.in_mean) / fe.in_std).astype(np.float32)
            for u in u_runs]


def prepare(subject: SubjectData, cfg: FrontEndConfig) -> SubjectData:
    """Fit the subject's front-end on its calibration run and compute every run's features (in place)."""
    subject.fe = front_end(subject.prep, subject.calib, cfg)
    subject.zs = features(subject.prep, subject.fe, cfg)
    return subject


def make_subject(name: str, task: str, paths: Sequence[Path | str], label_map: dict[str, str], calib: int,
                 run_numbers: Sequence[int] | None = None) -> SubjectData:
    """Load ``paths`` (one run each, recording order) as a subject; runs after ``calib`` are its test runs."""
    from bci_stream.train.classical.calibration_inputs import load_calibration

    if not 0 <= calib < len(paths) - 1:
        raise ValueError(f"calib must index a run with at least one later run (0 <= calib < {len(paths) - 1}), "
                         f"got {calib}")
    prep = load_calibration(list(paths), label_map, min_trials=1)
    numbers = list(run_numbers) if run_numbers is not None else list(range(len(paths)))
    return SubjectData(name=name, task=task, prep=prep, run_numbers=numbers, calib=calib,
                       test=list(range(calib + 1, len(paths))))


def eegmmidb_subject(subject: str, root: Path) -> SubjectData:
    """An EEGMMIDB subject of :data:`SUBJECT_TASKS` from ``root/eegmmidb`` (the task runs it has on disk)."""
    task = SUBJECT_TASKS[subject]
    spec = TASKS[task]
    runs = [r for r in spec.runs if (root / "eegmmidb" / subject / f"{subject}R{r:02d}.edf").is_file()]
    if spec.calib_run not in runs:
        raise FileNotFoundError(f"calibration run R{spec.calib_run:02d} of {subject} missing under {root}")
    paths = [root / "eegmmidb" / subject / f"{subject}R{r:02d}.edf" for r in runs]
    return make_subject(subject, task, paths, spec.labels, runs.index(spec.calib_run), runs)


__all__ = ["SUBJECT_TASKS", "TASKS", "FrontEnd", "FrontEndConfig", "SubjectData", "TaskSpec", "eegmmidb_subject",
           "features", "front_end", "make_subject", "prepare"]
