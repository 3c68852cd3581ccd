"""The service's own live trial score beside the offline rule that ``evaluate --live`` publishes.

The service scores each cue marker at the output ``round(decision_time_s * sfreq)`` samples after it
(:mod:`bci_stream.service.scoring`); for this comparison ``evaluate --live`` scores each cue of the file (one
trial per cue, as the service counts them) at its onset sample plus as many samples, on the same decoded stream.
On a replay both count samples from the same cue, so they must give the same trials, decided at the same sample,
with the same class: :func:`service_vs_offline` says whether they do, trial by trial. Apart by definition (not a
difference): a cue whose decision sample lies past the end of the data is ``pending`` in the service and left out
by the offline rule. The service counts as ``missed`` a cue with no output within ``max_lag_s`` of it, with a gap
in the data before its decision sample, or whose marker reached its scorer more than ``options.markers.history_s``
of recording after its samples were decoded (:func:`scorer_history_s` sets 30 s of wall time at any replay
speed); that trial is a difference (the offline rule decides it from the outputs placed on the sample grid).

Trials left out of the accuracy table (they touch data the file marks bad: offline ``evaluate``'s rule) are compared
too, and counted (``left_out``): the service is not told a file's marks and scores every cue, so its live score,
the one a lab watches during a session, counts them; and this is a check of the service's scorer against the
offline rule, which a trial over held NaN samples tests as well as any (leaving them out would hide a difference
exactly where the hold and the scorer meet). The printed line says how many of the compared cues the table leaves
out, so its counts are not read as the table's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

MAX_KEEP_TRIALS = 1000  #: the bound of ``options.markers.keep_trials`` (bci_stream.core.spec.MarkerOptions)
MIN_KEEP_TRIALS = 20  #: the service's default
MAX_HISTORY_S = 1200.0  #: the bound of ``options.markers.history_s``
MIN_HISTORY_S = 30.0  #: the service's default: 30 s of wall time for a late marker in real time


def keep_trials(marker_map: Mapping[str, str | None], cues: Iterable[str]) -> int:
    """``options.markers.keep_trials`` that lists every trial cue of ``cues`` (marker values mapped to a class) in the
    service's ``scoring.last``: at least the service's default, at most the spec's bound (beyond it, the last
    :data:`MAX_KEEP_TRIALS` trials are compared one by one; the counts are compared in full)."""
    n_cues = sum(marker_map.get(c) is not None for c in cues)
    return min(MAX_KEEP_TRIALS, max(MIN_KEEP_TRIALS, n_cues))


def scorer_history_s(speed: float, sfreq: float | None = None) -> float:
    """``options.markers.history_s`` for a replay ``speed`` times faster than real time: the service's default
    times ``speed`` (at most the spec's bound, and at most what the service keeps at ``sfreq``:
    :data:`~bci_stream.service.scoring.MAX_HISTORY_SAMPLES`), so a cue marker may reach the service's scorer as long
    after its samples were decoded, in wall time, as in real time (30 s), however fast the replay: the scorer keeps its
    history in samples at the nominal rate (4.3 MB at 160 Hz and 32x)."""
    from bci_stream.service.scoring import MAX_HISTORY_SAMPLES

    most = MAX_HISTORY_S if not sfreq else min(MAX_HISTORY_S, MAX_HISTORY_SAMPLES / sfreq)
    return min(most, MIN_HISTORY_S * max(1.0, float(speed)))


def service_vs_offline(scoring: Mapping[str, Any] | None, trials: Sequence[Mapping[str, Any]], t0: float | None,
                       period: float, sfreq: float, *, left_out: Collection[int] = ()) -> dict[str, Any] | None:
    """The service's live score (its status ``scoring``) and the offline rule's at the service's decision time.

    Parameters
    ----------
    scoring
        The decoder's final status ``scoring`` (``trials``, ``correct``, ``missed``, ``pending``,
        ``decision_time_s`` and the ``last`` trials with ``cue_t``, ``decision_t``, ``class``, ``predicted``).
    trials
        Evaluate's trials of the decoded stream in onset order: ``onset`` (sample), ``label`` and ``decisions``
        with the class decided at the service's decision time (key ``f"{decision_time_s:g}s"``; None when the
        decision sample lies past the end of the data).
    t0, period
        The replay's clock: sample ``k`` is stamped ``t0 + k * period`` (``period = 1 / (sfreq * speed)``); None
        when nothing was decoded.
    sfreq
        The nominal rate: the decision is ``round(decision_time_s * sfreq)`` samples after the cue.
    left_out
        Onset samples of the cues whose trials the accuracy table leaves out (marked bad data); compared all the
        same, and counted.

    Returns
    -------
    dict or None
        None when the service did not score (its ``scoring`` is off). Else ``decision_time_s``, ``compared``
        (trials compared one by one), ``differ`` (each trial on which they differ: ``onset``, ``label``,
        ``offline`` and ``service`` decisions, the service's ``decision_sample`` beside ``offline_decision_sample``;
        a side that has no such trial gives None), ``service`` (``trials``, ``correct``, ``missed``, ``pending``),
        ``offline`` (``trials``, ``correct``), ``left_out`` (how many of the trials of either side are at a cue of
        ``left_out``) and ``identical``: no trial differs and the counts are equal.
    """
    if not scoring or "trials" not in scoring:
        return None
    dt = float(scoring["decision_time_s"])
    key, n_after = f"{dt:g}s", int(round(dt * sfreq))
    decided = [t for t in trials if t["decisions"].get(key) is not None]
    last = list(scoring.get("last") or [])
    # trials by (cue sample, class): two cues of two classes at one sample are two trials
    live = {} if t0 is None else {(int(round((s["cue_t"] - t0) / period)), s["class"]): s for s in last}
    # beyond keep_trials the service lists only its last trials: the offline ones before them are not compared
    first = min((k[0] for k in live), default=0) if scoring["trials"] > len(last) else None
    offline = {(int(t["onset"]), t["label"]): t for t in decided if first is None or t["onset"] >= first}
    differ = []
    for onset, cls in sorted(set(live) | set(offline)):
        s, o = live.get((onset, cls)), offline.get((onset, cls))
        got = None if s is None else (s["class"], s["predicted"], int(round((s["decision_t"] - t0) / period)))
        want = None if o is None else (o["label"], o["decisions"][key], onset + n_after)
        if got != want:
            differ.append({"onset": onset, "label": s["class"] if o is None else o["label"],
                           "offline": None if o is None else o["decisions"][key],
                           "service": None if s is None else s["predicted"],
                           "offline_decision_sample": None if o is None else onset + n_after,
                           "decision_sample": None if got is None else got[2]})
    service = {f: scoring.get(f) for f in ("trials", "correct", "missed", "pending")}
    off = {"trials": len(decided), "correct": sum(t["decisions"][key] == t["label"] for t in decided)}
    marked = {int(o) for o in left_out}
    return {"decision_time_s": dt, "compared": len(set(live) & set(offline)), "differ": differ, "service": service,
            "offline": off, "left_out": sum(k[0] in marked for k in set(live) | set(offline)),
            "identical": not differ and (service["trials"], service["correct"]) == tuple(off.values())}


def service_vs_offline_line(name: str, cmp: Mapping[str, Any] | None) -> str:
    """One line for the printout: the service's live score beside the offline one, and where they differ."""
    if cmp is None:
        return f"{name}: the service did not score the trials live (its status scoring is off)"
    s, o = cmp["service"], cmp["offline"]
    line = (f"{name}: service live score {s['correct']}/{s['trials']} (missed {s['missed']}, pending {s['pending']}) "
            f"vs offline {o['correct']}/{o['trials']} at {cmp['decision_time_s']:g} s")
    if n := cmp.get("left_out"):  # the service scores every cue: say that these counts are not the table's
        line += f" (every cue; {n} of them left out of the accuracy table: they touch data marked bad)"
    if cmp["identical"]:
        return f"{line}: same, trial by trial ({cmp['compared']} compared)"
    if not cmp["differ"]:
        return f"{line}: DIFFERENT counts"
    d = cmp["differ"][0]
    where = ("not scored by the service" if d["service"] is None else "not decided offline" if d["offline"] is None
             else f"offline {d['offline']} at sample {d['offline_decision_sample']}, service {d['service']} at "
             f"sample {d['decision_sample']}")
    return (f"{line}: DIFFERENT on {len(cmp['differ'])} trial(s), first the {d['label']} cue at sample "
            f"{d['onset']}: {where}")
