"""The report of ``bci-stream calibrate``: the printed summary and ``report/report.{json,md}``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.card import CARD_FILE


def chance_headline(chance: dict) -> tuple[str, float]:
    """The "chance" level a reader compares accuracies with: the majority class's share when the classes are
    unbalanced (always answering it scores that much), else the uniform ``1 / n_classes``; and its name."""
    if chance["majority_class"] > chance["uniform"] + 1e-9:
        return "majority class", float(chance["majority_class"])
    return "uniform", float(chance["uniform"])


def family_why(chosen: Any, other: Any, score: Callable[[Any], tuple[float, ...]], terms: tuple[str, str]) -> str:
    """Why ``chosen`` beat the runner-up ``other`` (two ``FamilyResult``) under the family rule, in words for the
    report: ``score`` is the rule, ``terms`` its two measures' names (``selection.RULE_TERMS``)."""
    first, then = terms
    a, b = score(chosen), score(other)
    if a == b:
        return (f"{chosen.family} and {other.family} tie in {first} ({a[0]:.3f})"
                + (f" and in {then}" if len(a) > 1 else "") + f"; {chosen.family} comes first in the tie order "
                "(cheaper graph first)")
    if a[0] == b[0]:
        return (f"tie in {first} ({a[0]:.3f}); {chosen.family} has the higher {then} ({a[1]:.3f} vs {b[1]:.3f}, "
                f"{other.family})")
    return f"higher {first}: {a[0]:.4f} vs {b[0]:.4f} ({other.family})"


@contextmanager
def warnings_on_failure(notes: Sequence[str], echo: Callable[[str], None]) -> Iterator[None]:
    """Print loading's warnings (``notes`` starting ``warning: ``) when the work in the block fails or is
    interrupted: calibrate prints them once, in the summary at its end, which a failure never reaches (a wrong unit
    said only when all went well; review s52rev F5)."""
    try:
        yield
    except (Exception, KeyboardInterrupt):
        for note in notes:
            if note.startswith("warning: "):
                echo(note)
        raise


def chance_check(acc: float, ci95: Sequence[float], chance: dict, family: str, decision_time: float,
                 selection: dict | None = None, others: dict[str, float] | None = None) -> dict:
    """Whether the shipped decoder's CV accuracy at the decision time beats chance.

    Returns ``{"acc", "ci95", "chance", "chance_kind", "threshold", "above_threshold", "below_chance", "warning"}``:
    ``above_threshold`` when ``acc`` reaches the binomial 95 % threshold (``chance["binomial_95_threshold"]``,
    computed against the majority class: the smallest accuracy significant at p < 0.05, so reaching it beats chance),
    ``below_chance`` when the whole 95 % CI lies below the headline chance
    (:func:`chance_headline`); ``warning`` says so in words (None when it reaches the threshold).

    ``selection`` (a decoder picked among others on the same folds, ``calibrate --no-average``): ``{"n_compared",
    "method", "how", "picked_cv_acc", ...}`` and, for ``method == "bonferroni"``, its own ``"threshold"``. ``acc``
    and ``ci95`` are then the figure that accounts for the choice (the nested CV of the selection, or the picked
    decoder's own CV against the Bonferroni threshold); the result also holds ``selection`` and the warning says
    that the decoder was picked among ``n_compared`` and how the check accounts for it.

    ``others``: each family's own CV accuracy at the decision time (the shipped one's too). When the shipped average
    (``ensemble``) falls short and a family alone reaches the threshold on the same folds, the warning says so and
    points to ``--no-average``, instead of asking for more runs (audit s46: an average half of whose members read
    channels without signal scored 0.44, its best family alone 0.82).
    """
    kind, level = chance_headline(chance)
    thr = float(chance["binomial_95_threshold"] if selection is None or "threshold" not in selection
                else selection["threshold"])
    lo, hi = (float(v) for v in ci95)
    above = acc >= thr - 1e-9  # the threshold is the smallest significant k / n (chance_threshold), not the largest
    below = hi < level
    what = "CV accuracy" if selection is None else f"{selection['figure']}"
    picked = "" if selection is None else (f" ({family} was picked among {selection['n_compared']} decoders on the "
                                          f"same CV folds, so its own CV accuracy {selection['picked_cv_acc']:.3f} "
                                          f"{optimistic(selection['picked_cv_acc'], acc)}; {selection['how']})")
    warning = None
    if below:
        warning = (f"the shipped decoder ({family}) is WORSE than chance: its {what} at {decision_time:g} s is "
                   f"{acc:.3f}, 95% CI [{lo:.2f}, {hi:.2f}] wholly below chance {level:.2f} ({kind}){picked}; it is "
                   "systematically wrong: check --labels (events swapped?) and whether cues overlap (cues closer "
                   f"than {decision_time:g} s); do not use it")
    elif not above:
        warning = (f"the shipped decoder ({family}) is not shown to beat chance: its {what} at "
                   f"{decision_time:g} s is {acc:.3f} (95% CI [{lo:.2f}, {hi:.2f}]), below the binomial 95% "
                   f"threshold {thr:.2f} (chance {level:.2f}, {kind}){picked}; "
                   + (_average_advice(others, thr) if family == "ensemble" else "")
                   + "record more or cleaner runs before relying on it")
    out = {"acc": float(acc), "ci95": [lo, hi], "chance": level, "chance_kind": kind, "threshold": thr,
           "above_threshold": bool(above), "below_chance": bool(below), "warning": warning}
    if selection is not None:
        out["selection"] = {k: v for k, v in selection.items() if k != "picks"}
    return out


def optimistic(own: float, nested: float) -> str:
    """What a pick's own CV accuracy is beside the nested CV of that pick: optimistic on average (the best of several
    on the same folds), so said so when it is higher; a nested figure as high or higher (audit s64cal F4) is said."""
    if own > nested + 1e-9:
        return "is optimistic"
    return f"is optimistic on average, though here not above the nested figure {nested:.3f}"


def _average_advice(others: dict[str, float] | None, thr: float) -> str:
    """What to try first when the average falls short though a family alone is above ``thr`` (else ``""``)."""
    best = max(((acc, fam) for fam, acc in (others or {}).items() if fam != "ensemble"), default=None)
    if best is None or best[0] < thr - 1e-9:
        return ""
    return (f"the average is what falls short: {best[1]} alone scores {best[0]:.3f} on the same folds (the best of "
            "those compared, so optimistic), so some members may read channels without signal (see each candidate's "
            "channels in report.md); --no-average ships one decoder, with a chance check that accounts for its "
            "pick; or ")


def selection_line(check: dict) -> str | None:
    """The summary's and report.md's sentence on how the chance check accounts for a pick (None without one)."""
    sel = check.get("selection")
    if sel is None:
        return None
    verdict = "at or above" if check["above_threshold"] else "BELOW"
    return (f"chance check: the shipped decoder was picked among {sel['n_compared']} decoders on the same CV folds "
            f"(its own CV accuracy {sel['picked_cv_acc']:.3f} {optimistic(sel['picked_cv_acc'], check['acc'])}); "
            f"{sel['how']}: {sel['figure']} "
            f"{check['acc']:.3f} [{check['ci95'][0]:.2f}, {check['ci95'][1]:.2f}], {verdict} the threshold "
            f"{check['threshold']:.2f}")


def recall_line(report: dict) -> str | None:
    """The shipped decoder's CV recall per class at the decision time, in words (None when it has none): an accuracy
    above chance may come from some classes only (a 3-class fit right on rest and right hand, 1 of 8 left). The
    residual GRU's when it is shipped (before, the CSP+LDA's it builds on: audit s64cal F7)."""
    rec = report.get("recurrent") or {}
    family = "csp_gru" if rec.get("shipped") else report["chosen_family"]
    recall = (rec if rec.get("shipped") else report["families"].get(family, {})).get("cv_recall_2s")
    if not recall:
        return None
    return (f"per-class CV recall at {report['decision_time_s']:g} s ({family}): "
            + ", ".join(f"{label} {k}/{n}" for label, (k, n) in recall.items()))


def cue_gaps(onsets_s: Sequence[np.ndarray], decision_time: float) -> dict:
    """The gaps between consecutive labelled cues of each run (``onsets_s``: one array of onsets in s per run).

    Returns ``{"n_gaps", "n_short", "share_short", "median_s", "warning"}``: ``n_short`` gaps are shorter than
    ``decision_time``, so the decision for such a cue is taken after the next cue (its response in the window);
    ``warning`` is None when there is none.
    """
    gaps = np.concatenate([np.diff(np.sort(np.asarray(o, dtype=float))) for o in onsets_s] or [np.zeros(0)])
    n_short = int((gaps < decision_time).sum())
    med = float(np.median(gaps)) if gaps.size else float("nan")
    share = n_short / gaps.size if gaps.size else 0.0
    warning = None
    if n_short:
        warning = (f"{n_short} of the {gaps.size} gaps between consecutive cues ({share:.0%}; median gap {med:.2f} s) "
                   f"are shorter than the decision time {decision_time:g} s: the decision for such a cue is taken "
                   "after the next cue, with its response in the window, so the CV accuracy does not measure "
                   "single-trial decoding (map only events spaced at least that far apart in --labels)")
    return {"n_gaps": int(gaps.size), "n_short": n_short, "share_short": share, "median_s": med,
            "warning": warning}


def summary_lines(report: dict) -> list[str]:
    """The printed summary of a calibration report."""
    times = [f"{t:g}" for t in report["eval_times_s"]]
    ch = report["chance"]
    kind, level = chance_headline(ch)
    head = (f"chance {level:.2f} (majority class; uniform {ch['uniform']:.2f}" if kind == "majority class" else
            f"chance {ch['uniform']:.2f} (majority class {ch['majority_class']:.2f}")
    lines = [f"CV: {report['cv_scheme']}; {head}, binomial 95% threshold {ch['binomial_95_threshold']:.2f})",
             "family    " + "".join(f"{'acc@' + t + 's':>10}" for t in times) + "  mean1.5-2.5s"
             + "   95% CI @2s      config"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        lines.append(f"{fam:<10}" + "".join(f"{r['cv_acc'][t]:>10.3f}" for t in times)
                     + f"{r.get('cv_acc_window_mean', float('nan')):>14.3f}   [{lo:.2f}, {hi:.2f}]   {r['config']}")
    lines.append(f"chosen: {report['chosen_family']} ({report['why']})")
    if (line := recall_line(report)) is not None:
        lines.append(line)
    if (line := selection_line(report.get("chance_check") or {})) is not None:
        lines.append(line)
    rec = report.get("recurrent")
    if rec is not None:
        accs = ("".join(f"{rec['cv_acc'][t]:>10.3f}" for t in times) + "   ") if rec.get("tried") else ""
        lines.append(f"{'csp_gru':<10}{accs}recurrent residual on CSP+LDA: {rec['why']}")
    cost = report.get("step_cost")
    if cost:
        lines.append(f"step cost, one sample per call: p50 {cost['p50_us']:.0f} µs, p99 {cost['p99_us']:.0f} µs "
                     f"(sample period {cost['sample_period_us']:.0f} µs)")
        if cost.get("warning"):
            lines.append(f"warning: {cost['warning']}")
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    lines.append(f"exported to {report['model_dir']} (report in {report['model_dir']}/report/)")
    return lines


def _recurrent_md(rec: dict | None, times: list[str]) -> list[str]:
    """The report.md section of the residual GRU stage (:mod:`.residual_calibrate`)."""
    if rec is None:
        return []
    md = ["## Recurrent: residual GRU on CSP+LDA", "", f"* rule: {rec['rule']}", f"* **{rec['why']}**"]
    if rec.get("tried"):
        md += [f"* config: `{rec['config']['label']}`", "",
               "| model | " + " | ".join(f"acc @ {t} s" for t in times) + " |", "|---|" + "---|" * len(times),
               "| CSP+LDA | " + " | ".join(f"{rec['classical_cv_acc'][t]:.3f}" for t in times) + " |",
               "| residual GRU | " + " | ".join(f"{rec['cv_acc'][t]:.3f}" for t in times) + " |"]
    return md + [""]


def _left_out_md(left_out: Sequence[dict]) -> str:
    """`` (left out as bad, not fitted or scored: a.fif 3: BAD_blink 2, boundary ... 1)`` or ``""``."""
    each = [f"{d['file']} {d['n']}: " + ", ".join(f"{why} {sum(c.values())}" for why, c in d["by_reason"].items())
            for d in left_out]
    return f" (left out as bad, neither fitted nor scored: {'; '.join(each)})" if each else ""


def _reader_md(reader: dict) -> str:
    """`` (read with --marker-stream Cues --event-fields type,position)``: the reader options calibrate was given, by
    their flags, or ``""``."""
    from bci_stream.io.reader_flags import flag

    each = [f"{flag(k)} {','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in reader.items()]
    return f" (read with {' '.join(each)})" if each else ""


#: What calibrate writes into a model folder (the graphs, the card, the report): every other file of a folder that
#: ``--overwrite`` replaces is kept (:func:`~bci_stream.train.export.folder_swap.write_folder`) and said
#: (:func:`carried_warning`).
WRITTEN = ("model.onnx", "model.step1.onnx", "model.json", "report")


def carried_warning(model_dir: Path) -> list[str]:
    """A warning naming the files of an existing ``model_dir`` other than :data:`WRITTEN`, which the new version
    keeps (a README, notes of the lab's): they may describe the replaced model (audit s46: a copy of the bundled
    eegmmidb-s001 recalibrated on S002's runs kept its README on S001's data and figures); [] when none. The earlier
    versions ``--overwrite`` keeps whole in folders of their own (a card inside: ``OUT/NAME/1.0.0/``) are calibrate's,
    not the lab's: not named (before, a second ``--overwrite`` warned of ``1.0.0`` and advised removing the folder a
    decoder pinned to ``NAME@1.0.0`` needs: audit s63readme F3)."""
    kept = sorted(p.name for p in model_dir.iterdir() if p.name not in WRITTEN and not p.name.startswith(".")
                  and not (p / CARD_FILE).is_file()) if model_dir.is_dir() else []
    if not kept:
        return []
    return [f"the folder's other files are kept from the version this one replaces ({', '.join(kept)}): check that "
            "they describe this model, or remove them"]


def write_report(report: dict, out: Path) -> None:
    """Write ``report.json`` (the report, its ``files`` and ``model_dir`` without this machine's paths: it travels with
    the model, :func:`~bci_stream.train.export.provenance.portable`) and ``report.md`` (tables of the CV results) into
    ``out``, after removing what a replaced version's report left there."""
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    from bci_stream.train.export.provenance import portable

    saved = {**report, "model_dir": Path(report["model_dir"]).name, "files": portable(report["files"])}  # it travels
    (out / "report.json").write_text(json.dumps(saved, indent=2, default=str) + "\n", encoding="utf-8")
    times = [f"{t:g}" for t in report["eval_times_s"]]
    md = [f"# Calibration report: {report['name']}", "",
          f"* files: {', '.join(Path(f).name for f in report['files'])}" + _reader_md(report.get("reader") or {}),
          f"* labels: {report['label_map']} → classes {report['labels']}; "
          f"cues per class {report['trials_per_class']}" + _left_out_md(report.get("trials_left_out") or []),
          f"* sfreq {report['sfreq']:g} Hz, {report['n_chans_available']} channels available; "
          f"model uses {len(report['ch_names'])}: {', '.join(report['ch_names'])}",
          f"* CV scheme: {report['cv_scheme']}",
          f"* chance: {chance_headline(report['chance'])[1]:.3f} ({chance_headline(report['chance'])[0]}); "
          f"uniform {report['chance']['uniform']:.3f}, majority class "
          f"{report['chance']['majority_class']:.3f}, binomial 95% threshold "
          f"{report['chance']['binomial_95_threshold']:.3f}", ""]
    if report.get("warnings"):
        md += ["## Warnings", ""] + [f"* **warning**: {w}" for w in report["warnings"]] + [""]
    md += ["## CV accuracy (trial decision = argmax of the streaming output at t s after cue)", "",
           "| family | " + " | ".join(f"acc @ {t} s" for t in times)
           + " | mean 1.5-2.5 s | 95% CI @ 2 s (Wilson) | config |",
           "|---|" + "---|" * len(times) + "---|---|---|"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        md.append(f"| {fam} | " + " | ".join(f"{r['cv_acc'][t]:.3f}" for t in times)
                  + f" | {r.get('cv_acc_window_mean', float('nan')):.3f} | [{lo:.2f}, {hi:.2f}] | `{r['config']}` |")
    rules = report.get("rules", {})
    md += ["", f"**Chosen: {report['chosen_family']}** — {report['why']}."]
    if (line := recall_line(report)) is not None:
        md += ["", f"{line[0].upper()}{line[1:]}."]
    if (line := selection_line(report.get("chance_check") or {})) is not None:
        md += ["", f"**{line[0].upper()}{line[1:]}.**"]
    md += [""] + [f"* {what} rule: {rule}" for what, rule in rules.items()] + ["", "## Candidates", ""]
    for fam, r in report["families"].items():
        if not r["candidates"]:  # the combined decoder: the two picks above, no candidates of its own
            continue
        md += [f"### {fam}", "", "| config | " + " | ".join(f"@{t} s" for t in times) + " | rule score | picked |",
               "|---|" + "---|" * (len(times) + 2)]
        for c in r["candidates"]:
            score = ", ".join(f"{x:.4f}" for x in c.get("score", []))
            md.append(f"| `{c['config']}` | " + " | ".join(f"{c['acc'][t]:.3f}" for t in times)
                      + f" | {score} | {'yes' if c['config'] == r['config'] else ''} |")
        md.append("")
    md += _recurrent_md(report.get("recurrent"), times)
    cost = report.get("step_cost")
    if cost:
        md += ["## Step cost", "", f"One sample per call ({cost['n_steps']} calls, {cost['machine']}): p50 "
               f"{cost['p50_us']:.0f} µs, p99 {cost['p99_us']:.0f} µs; sample period "
               f"{cost['sample_period_us']:.0f} µs."]
        md += ([f"* **warning**: {cost['warning']}"] if cost.get("warning") else []) + [""]
    md += ["## Notes", ""] + [f"* {n}" for n in report["notes"]]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def size_notes(params: Any, config: Any) -> list[str]:
    """A note when the shipped decoder holds fewer CSP components (``m=``) or tangent-space dimensions (``n=``) than
    its config asks, as the report's config labels say it: few channels, or few directions holding signal (CAR on 3
    channels), cap them at fitting (audit s44b: ``--channels C3,Cz,C4`` gave ``m=4`` / ``n=16csp`` in the report, 2
    components / 3 dimensions in the card's ``architecture``). ``params``/``config``: a single family's, or the
    combined or averaged decoder's (their parts in order)."""
    if hasattr(config, "members"):
        pairs = list(zip(params.members, config.members))
    elif hasattr(config, "riemann"):
        pairs = [(params.csp, config.csp), (params.riemann, config.riemann)]
    else:
        pairs = [(params, config)]
    said: dict[str, int] = {}
    n_chans: set[int] = set()  # of the capped parts (an average's members on fewer channels than its union)
    for p, c in pairs:
        asked, got, key = ((c.n_components, np.asarray(p.filters).shape[1], "m") if hasattr(c, "n_components") else
                           (c.n_dims, np.asarray(p.cov_init).shape[0], "n"))
        if got < asked:
            what = f"{c.family} {key}={got}, not {key}={asked}"
            said[what] = said.get(what, 0) + 1
            n_chans.add(len(p.ch_names))
    if not said:
        return []
    each = "; ".join(f"{w}{f' (x{k})' if k > 1 else ''}" for w, k in said.items())
    return [f"the shipped decoder was fitted with fewer components than its config label says ({each}): "
            f"{' or '.join(str(n) for n in sorted(n_chans))} channel(s) give no more directions holding signal; the "
            "card's architecture holds the fitted sizes"]


__all__ = ["chance_check", "chance_headline", "cue_gaps", "recall_line", "selection_line", "size_notes",
           "summary_lines", "write_report"]
