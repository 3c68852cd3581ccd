"""Study: how far can the classical decoders clip their components without losing accuracy?

``python -m bci_stream.train.classical.clip_study --out DIR [--jobs 2]``

Why: one artifact blinds an unclipped streaming decoder for ``log(artifact power / EEG power) * tau_s``: a 10 mV
electrode pop on 10 µV EEG is 1e6 times the power, 14 time constants. Clipping each component (CSP filter output,
tangent-space projection) at ``clip_sd`` times its calibration RMS (:mod:`.params`) bounds what one artifact can
add to the running estimate, at the price of distorting the power of clean samples beyond the bound.

The grid :data:`CLIPS` starts at 3: at 2 a session whose amplitude is twice the calibration's (an impedance
change) would clip most samples and saturate the features. Scored as :mod:`.study` scores a family: leave-one-run-out
trial accuracy at 2 s after cue on the calibration runs of every unit of :data:`.study.CALIBRATION` (test runs
never read), for each family's default and for calibrate's average of 16 (each family's members clipped at
their own value).

Rule, written before the run: per family, the smallest ``clip_sd`` of :data:`CLIPS` whose correct count at 2 s
is not below the unclipped one in total and is behind it by at most :data:`SLACK_TRIALS` on no subject (a
subject's units together); then the average of 16 with each family at its chosen value must pass the same test
against the unclipped average, or neither default changes. Writes ``DIR/clip_study.json`` and ``DIR/clip_study.md``.
"""

from __future__ import annotations

import itertools
import sys

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, with_

CLIPS: tuple[float, ...] = (3.0, 4.0, 6.0, 8.0)
SLACK_TRIALS = 1
FAMILIES = ("csp_lda", "riemann")
NONE = "none"


def _name(clip: float | None) -> str:
    return NONE if clip is None else f"{clip:g}"


def ensemble_key(csp_clip: float | None, riemann_clip: float | None) -> str:
    """The row key of the average of 16 with CSP members at ``csp_clip`` and tangent-space ones at ``riemann_clip``."""
    return f"ensemble[csp={_name(csp_clip)},riemann={_name(riemann_clip)}]"


def run_unit(unit: str) -> dict:
    """LORO correct on ``unit``: each family's default and its 8 candidates at every clip, and the average of 16 at
    every pair of clips."""
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.ensemble import ensemble_cv
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    folds, _ = make_folds(prep)
    correct: dict[str, dict[str, int]] = {}
    members: dict[str, dict[str, list]] = {}
    for family, base in zip(FAMILIES, (DEFAULT_CSP, DEFAULT_RIEMANN)):
        members[family] = {}
        for clip in (None, *CLIPS):
            correct[f"{family}@{_name(clip)}"] = cross_validate(prep, with_(base, clip_sd=clip), folds).counts()
            members[family][_name(clip)] = [cross_validate(prep, with_(c, clip_sd=clip), folds)
                                            for c in candidates(prep, family, channels_fixed=False)]
    for a, b in itertools.product((None, *CLIPS), repeat=2):
        correct[ensemble_key(a, b)] = ensemble_cv(members["csp_lda"][_name(a)]
                                                  + members["riemann"][_name(b)]).counts()
    n = ensemble_cv(members["csp_lda"][NONE]).n_trials
    key = f"{DECISION_TIME:g}"
    print(f"{unit}: " + ", ".join(f"{k} {v[key]}" for k, v in correct.items() if not k.startswith("ensemble"))
          + f", ensemble none {correct[ensemble_key(None, None)][key]}", file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": n, "correct": correct}


def non_inferior(rows: list[dict], candidate: str, baseline: str) -> dict:
    """Totals and per-subject counts at 2 s of ``candidate`` and ``baseline``; ``passes`` when the candidate is not
    below in total and behind by at most :data:`SLACK_TRIALS` on every subject."""
    from bci_stream.train.classical.study import gate_against

    g = gate_against(rows, candidate, (baseline,), 0)
    worst = min(c[candidate] - c[baseline] for c in g["per_subject"].values())
    return g | {"worst_subject": worst, "passes": g["margin"] >= 0 and worst >= -SLACK_TRIALS}


def gate(rows: list[dict]) -> dict:
    """The rule of the module docstring: each family's chosen clip, and the average's check."""
    chosen: dict[str, float | None] = {}
    checks: dict[str, dict] = {}
    for family in FAMILIES:
        chosen[family] = None
        for clip in CLIPS:
            checks[f"{family}@{_name(clip)}"] = c = non_inferior(rows, f"{family}@{_name(clip)}", f"{family}@{NONE}")
            if c["passes"] and chosen[family] is None:
                chosen[family] = clip
    ens = non_inferior(rows, ensemble_key(chosen["csp_lda"], chosen["riemann"]), ensemble_key(None, None))
    adopt = ens["passes"] and any(v is not None for v in chosen.values())
    return {"chosen": chosen, "checks": checks, "ensemble": ens, "adopt": adopt}


def markdown(rows: list[dict], g: dict) -> str:
    key = f"{DECISION_TIME:g}"
    cols = [f"{f}@{_name(c)}" for f in FAMILIES for c in (None, *CLIPS)]
    ens_cols = [ensemble_key(None, None)] + [ensemble_key(c, c) for c in CLIPS]
    pair = ensemble_key(g["chosen"]["csp_lda"], g["chosen"]["riemann"])
    ens_cols += [] if pair in ens_cols else [pair]
    md = ["# Clipping the components of the classical decoders (LORO on calibration runs, correct at 2 s)", "",
          "| unit | trials | " + " | ".join(cols + ens_cols) + " |", "|---" * (len(cols) + len(ens_cols) + 2) + "|"]
    for r in rows:
        md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][c][key]) for c in cols + ens_cols)
                  + " |")
    md += ["| **total** | " + str(sum(r["n_trials"] for r in rows)) + " | "
           + " | ".join(f"**{sum(r['correct'][c][key] for r in rows)}**" for c in cols + ens_cols) + " |", ""]
    for name, c in g["checks"].items():
        md.append(f"* {name} against no clip: margin {c['margin']}, worst subject {c['worst_subject']} -> "
                  f"{'passes' if c['passes'] else 'does not pass'}")
    e = g["ensemble"]
    md += ["", f"Chosen: {g['chosen']}. The average of 16 at that pair against unclipped: margin {e['margin']}, "
           f"worst subject {e['worst_subject']} -> {'passes' if e['passes'] else 'does not pass'}. "
           f"**{'Adopt' if g['adopt'] else 'Keep no clip'}.**", ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.clip_study", doc=__doc__,
                           stem="clip_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
