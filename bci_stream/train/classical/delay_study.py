"""Study: does delay embedding (augmented covariance, CSSP) improve the two classical families?

``python -m bci_stream.train.classical.delay_study --out DIR [--jobs 2]``

The augmented covariance method (ACM; Carrara & Papadopoulo, IEEE TBME 2024) estimates the spatial covariance
of the delay-embedded signal ``z_t = [u_t, u_{t-d}, ..., u_{t-(m-1)d}]`` instead of ``u_t``; with CSP it is the
common spatio-spectral pattern (CSSP; Lemm et al., IEEE TBME 2005). Both add spectral selectivity to the spatial
filters. Here each family's default pipeline (``DEFAULT_CSP`` / ``DEFAULT_RIEMANN``) runs on ``z`` (order ``m``
of :data:`ORDERS`, delay ``d_s`` of :data:`DELAYS_S`; samples before a run's first are 0, as a zero-initialised
delay line online), and so does every member of calibrate's averaged decoder.

Scored as :mod:`.study` scores a family: leave-one-run-out trial accuracy at 2 s after cue on the calibration
runs of every unit of :data:`.study.CALIBRATION` (test runs never read). ``(m, d_s)`` is chosen
leave-one-subject-out (ties: smaller ``m``, then shorter ``d_s``). Gates, written before the run: gate 1 (per
family) the LOSO-chosen embedding >= :data:`GATE_TRIALS` ahead of the default and behind on no subject; gate 2
(only for a family that passes gate 1) the averaged decoder with that family's members embedded at the
embedding chosen on all units, >= :data:`GATE_TRIALS` ahead of today's average and behind on no subject.
Writes ``DIR/delay_study.json`` and ``DIR/delay_study.md``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, Config

ORDERS: tuple[int, ...] = (2, 3)
DELAYS_S: tuple[float, ...] = (0.0125, 0.025, 0.05)
EMBEDDINGS: tuple[tuple[int, float], ...] = tuple((m, d) for m in ORDERS for d in DELAYS_S)
GATE_TRIALS = 6
FAMILIES = ("csp_lda", "riemann")


@dataclass(frozen=True)
class DelayConfig:
    """``base`` (either family's config) run on the delay-embedded signal of order ``order``, delay ``delay_s``."""

    base: Config
    order: int
    delay_s: float


def delay_samples(delay_s: float, sfreq: float) -> int:
    """The delay in samples: ``max(1, round(delay_s * sfreq))``."""
    return max(1, int(round(delay_s * sfreq)))


def embed(u: np.ndarray, order: int, delay: int) -> np.ndarray:
    """``[T, order * C]``: ``[u_t, u_{t-delay}, ..., u_{t-(order-1) delay}]`` per row (zeros before row 0).

    Causal: row ``t`` uses no row after ``t``.
    """
    if order < 1 or delay < 1:
        raise ValueError(f"order and delay must be >= 1, got order={order}, delay={delay}")
    u = np.asarray(u, dtype=np.float64)
    parts = [u]
    for j in range(1, order):
        lag = j * delay
        shifted = np.zeros_like(u)
        if lag < len(u):
            shifted[lag:] = u[:len(u) - lag]
        parts.append(shifted)
    return np.concatenate(parts, axis=1)


class _Embedded:
    """A :class:`.prepared.Prepared` whose preprocessed runs are delay-embedded (everything else delegated)."""

    def __init__(self, prep, order: int, delay_s: float):
        self._prep, self._order, self._delay = prep, order, delay_samples(delay_s, prep.sfreq)
        self._cache: dict = {}

    def __getattr__(self, name):
        return getattr(self._prep, name)

    def filtered(self, cfg: Config):
        names, pre, u_runs = self._prep.filtered(cfg)
        key = (tuple(names), tuple(cfg.band), cfg.car, cfg.filter_order)
        if key not in self._cache:
            self._cache[key] = [embed(u, self._order, self._delay) for u in u_runs]
        return names, pre, self._cache[key]


def _embedded(prep, cfg: DelayConfig) -> _Embedded:
    cache = prep.__dict__.setdefault("_delay_study_views", {})
    key = (cfg.order, cfg.delay_s)
    if key not in cache:
        cache[key] = _Embedded(prep, cfg.order, cfg.delay_s)
    return cache[key]


def fit_delay(prep, sel, cfg: DelayConfig):
    """Fit ``cfg.base``'s family (:func:`.fit.fit`) on the delay-embedded runs."""
    from bci_stream.train.classical.fit import fit

    return fit(_embedded(prep, cfg), sel, cfg.base)


def predict_delay(prep, params, cfg: DelayConfig, ri: int, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` on run ``ri`` (streamed from its first sample) at samples ``at``."""
    from bci_stream.train.classical.cv import predict_prepared

    return predict_prepared(_embedded(prep, cfg), params, cfg.base, ri, at)


def method(family: str, emb: tuple[int, float] | None) -> str:
    """Column name: ``"riemann"`` (default) or ``"riemann@m2d0.025"`` (embedded)."""
    return family if emb is None else f"{family}@m{emb[0]}d{emb[1]:g}"


def run_unit(unit: str) -> dict:
    """LORO correct on ``unit``: each family's default, embedded or not, and the averaged decoder with each
    family's members embedded at each embedding."""
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.ensemble import ensemble_cv
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    folds, _ = make_folds(prep)

    def cv(cfg: Config, emb: tuple[int, float] | None):
        if emb is None:
            return cross_validate(prep, cfg, folds)
        return cross_validate(prep, DelayConfig(cfg, *emb), folds, fit_fn=fit_delay, predict_fn=predict_delay)

    correct: dict[str, dict[str, int]] = {}
    members: dict[str, dict] = {}
    for family, base in zip(FAMILIES, (DEFAULT_CSP, DEFAULT_RIEMANN)):
        for emb in (None, *EMBEDDINGS):
            correct[method(family, emb)] = cv(base, emb).counts()
        cands = candidates(prep, family, channels_fixed=False)
        members[family] = {emb: [cv(c, emb) for c in cands] for emb in (None, *EMBEDDINGS)}
    correct["ensemble"] = ensemble_cv(members["csp_lda"][None] + members["riemann"][None]).counts()
    for family, other in zip(FAMILIES, reversed(FAMILIES)):
        for emb in EMBEDDINGS:
            correct[f"ensemble[{method(family, emb)}]"] = ensemble_cv(
                members[family][emb] + members[other][None]).counts()
    n = ensemble_cv(members["csp_lda"][None]).n_trials
    print(f"{unit}: " + ", ".join(f"{k} {v[f'{DECISION_TIME:g}']}" for k, v in correct.items()),
          file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": n, "correct": correct}


def _total(rows: list[dict], col: str) -> int:
    return sum(r["correct"][col][f"{DECISION_TIME:g}"] for r in rows)


def choose(rows: list[dict], family: str) -> tuple[int, float]:
    """The embedding with the most correct at 2 s of ``family``'s default over ``rows`` (ties: smaller m, d)."""
    return max(EMBEDDINGS, key=lambda e: (_total(rows, method(family, e)), -e[0], -e[1]))


def with_loso(rows: list[dict]) -> list[dict]:
    """``rows`` with a ``<family>@loso`` column per family: each unit scored with the embedding chosen on the
    other subjects' units."""
    from bci_stream.train.classical.study import subject_of

    out = [dict(r, correct=dict(r["correct"])) for r in rows]
    for family in FAMILIES:
        for r in out:
            emb = choose([q for q in rows if subject_of(q["unit"]) != subject_of(r["unit"])], family)
            r["correct"][f"{family}@loso"] = r["correct"][method(family, emb)]
            r.setdefault("loso_embedding", {})[family] = list(emb)
    return out


def gate(rows: list[dict]) -> dict:
    """Gate 1 per family (LOSO embedding vs default) and, where it passes, gate 2 (averaged decoder)."""
    from bci_stream.train.classical.study import gate_against

    loso = with_loso(rows)
    out = {}
    for family in FAMILIES:
        g1 = gate_against(loso, f"{family}@loso", (family,), GATE_TRIALS)
        emb = choose(rows, family)
        g2 = gate_against(rows, f"ensemble[{method(family, emb)}]", ("ensemble",), GATE_TRIALS)
        out[family] = {"gate1": g1, "embeddings": {r["unit"]: r["loso_embedding"][family] for r in loso},
                       "chosen_on_all": list(emb), "gate2": g2 if g1["passes"] else None,
                       "gate2_for_information": g2,
                       "fixed": {method(family, e): _total(rows, method(family, e)) for e in EMBEDDINGS}}
    return out


def markdown(rows: list[dict], g: dict) -> str:
    from bci_stream.train.classical.study import gate_verdict

    key = f"{DECISION_TIME:g}"
    loso = with_loso(rows)
    md = ["# Delay embedding (ACM / CSSP) vs the plain families (LORO on calibration runs, correct at 2 s)", ""]
    for family in FAMILIES:
        cols = [method(family, None)] + [method(family, e) for e in EMBEDDINGS]
        md += [f"## {family}", "", "| unit | trials | " + " | ".join(cols) + " | LOSO embedding |",
               "|---" * (len(cols) + 3) + "|"]
        for r in loso:
            e = r["loso_embedding"][family]
            md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][c][key]) for c in cols)
                      + f" | {r['correct'][f'{family}@loso'][key]} (m={e[0]}, d={e[1]:g} s) |")
        fg = g[family]
        md += [f"| **total** | {fg['gate1']['n']} | " + " | ".join(str(_total(rows, c)) for c in cols)
               + f" | **{fg['gate1']['total'][f'{family}@loso']}** |", "",
               f"Gate 1 (LOSO embedding ahead of the default by >= {GATE_TRIALS}, behind on no subject): "
               + gate_verdict(fg["gate1"]), ""]
        g2 = fg["gate2_for_information"]
        emb_col = f"ensemble[{method(family, tuple(fg['chosen_on_all']))}]"
        md += [f"Averaged decoder with the {family} members embedded at m={fg['chosen_on_all'][0]}, "
               f"d={fg['chosen_on_all'][1]:g} s: {g2['total'][emb_col]} vs {g2['total']['ensemble']} today"
               + (" (gate 2: " + gate_verdict(fg["gate2"]) + ")" if fg["gate2"] else " (gate 2 not reached)"), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.delay_study", doc=__doc__,
                           stem="delay_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
