"""The rules of :class:`~bci_stream.lsl.gaps.GapTracker`: each constant of the lost-sample estimator with why it has
its value (the estimator itself, and the reasoning that ties them together, are in :mod:`bci_stream.lsl.gaps`).

Push jitter of tens of ms (a Bluetooth link: chunks stamped on arrival, 0-100 ms late, pushes queued behind a late one
arriving together) leaves the envelope up to tens of samples off the stamps' floor for seconds, and a 4 s window often
holds no timely stamp (without JIT_FALLS: 95 false lost samples a minute, synthetic, 250-2048 Hz). A full window of
jittered stamps counts only a least excess above what the jitter explains (JIT_FALLS): three times the largest recent
fall plus the rate error's uncertainty over the gap, and nothing amid the stream's first, mostly late stamps (the draws
seen while no window was open) until the rate error is measured (3 spans; up to 8-12 s after an early loss): 1.8 a
minute left. A smaller loss is not seen (0-100 ms: one of 100 ms mostly is, of 200 ms or more is, 5-8 s later; amid
sub-period jitter one of 2 samples mostly is not); an early loss may be counted short (14 of 288 under half).

Losses are counted on the stamps as received, not on :class:`~bci_stream.lsl.dejitter.TimestampRepair`'s: its line moves
by a fraction of a period at each pull, which reads as delay draws (a starved worker's pulls of hundreds of samples left
few, mostly late: a loss's window waited 4 s). A stall, a stop or a restart closes a window at once
(:meth:`~bci_stream.lsl.gaps.GapTracker.settle`), so a loss just before a stream went silent is counted too (not a
window of jittered stamps: its stamps, all late so far, are no evidence; it stays open for the stamps after a
stall); a worker killed while one is open leaves where the accounting stood, and its successor judges again from
there (:meth:`~bci_stream.lsl.gaps.GapTracker.unsettled`). The gap policy is separate: a chunk is cut before every step
of the repaired stamps longer than ``threshold_s``.

A step back is decoded in arrival order, never a gap, and counted in ``backward_steps`` only when the clock went back:
when the stamp falls below the base by more than ``max(BACK_MIN, BACK_FALLS x the largest recent fall)`` periods (3 and
2). Jitter makes stamps late, never early, so a timely stamp after late ones steps back (overlapping push-time chunks)
yet lands on the envelope: it falls below the base only by what the base rose while the stamps before were late (its
*fall*: live, up to 2.6 periods under 0-5 ms of push jitter at 1 kHz). A clock stepping back puts the stamp below the
envelope by the step: counted once, the base follows it down, and the rate error is measured afresh after it. A clock
stepping back by less than that tolerance is not told from jitter.
"""

from __future__ import annotations

RISE = 0.01
"""Largest rise of the base per sample: a sender up to 1 % slower than nominal is drift, not loss."""
TRIGGER = 0.75
"""An offset this far (samples) above the base opens a settling window."""
COUNT_FROM, ROUND_UP = 0.95, 0.5
"""An excess under COUNT_FROM (samples) is a timely stamp: nothing lost. A full window counts ``floor(least excess +
ROUND_UP)``: a loss is whole samples; on top of it, its most timely stamp's delay (up) and what the base rose above
the stamps' floor since the last timely stamp and the error of the rate taken out (down)."""
SETTLE_SAMPLES, SETTLE_S = 32, 0.25
"""A full settling window holds at least this many samples, and at least this long at the nominal rate."""
SETTLE_DRAWS, SETTLE_MISS, SETTLE_MAX_S = 12, 2e-4, 4.0
"""When the stamps jitter, a full window also holds at least this many delay draws on average, and as many as make
the chance that none is timely (under COUNT_FROM) under SETTLE_MISS; up to SETTLE_MAX_S."""
PUSH_WAIT_MAX_S, DEDUCED, MIN_PUSHES = 10.0, 1e-4, 2.0
"""A window whose samples after its first are all one push's (every step since it opened one nominal period to within
DEDUCED periods: the stamps liblsl deduces back from a push's time, all as late as the push) does not close full
before another stamp comes, up to twice the samples between pushes seen and at most PUSH_WAIT_MAX_S. Only on a stream
that pushes: at least MIN_PUSHES recent timely steps off a whole number of periods by more than DEDUCED (push-time
stamps, whose push jitter at 160 Hz may be under DRAW_TOLERANCE), at most PUSH_WAIT_MAX_S apart on average; not the
step of a gap (off whole periods on any stream), nor a lone clock correction of a stream stamped on an exact grid (a
replay's), which keeps the short window, as do stamps of their own off that grid (a sender off its rate: no step is
one period). A stop closes such a window as any other (a loss in the last push is counted); a stall leaves it open
for the next push (a stream whose pushes are further apart than ``stall_timeout_s`` stalls between every two).
Before, a chunk of 0.25 s or more pushed late once (a sender preempted: 100-300 ms) filled the short window with its
own late stamps: its lateness was counted lost and the next, timely push as a step back (audit s60lsl F1: 16 and 48
samples at 160 Hz for chunks of 1000 and 160 late by 100 and 300 ms). Two losses within one push are one gap (the
window waits for the next push); a late push among a stream's first three is counted as before."""
DRAW_TOLERANCE, DRAW_MEMORY, MIN_DRAWS = 0.01, 4096.0, 8.0
"""A step further than this (periods) from a whole number of periods starts a delay draw; the draws per sample are
counted over about this many samples (halved beyond); fewer draws than this there: regular stamps."""
SLOPE_SAMPLES, SLOPE_S, SLOPE_MARKS, SLOPE_KNOWN = 256, 1.0, 9, 3
"""The base's slope (the sender's rate error) is measured between marks ``max(SLOPE_SAMPLES, SLOPE_S x sfreq)`` samples
apart, over the last SLOPE_MARKS marks (the stream's first span left out: its first stamps' delays), known from
SLOPE_KNOWN marks on: the mean of the middle half of the spans' rises of the base, losses counted in a span taken out
when the stamps are regular (no jitter: a counted loss is a loss) or when they exceed what a rate error could rise
(``RISE`` a sample); amid jitter, never below 0 where the base rose (an overcount read as a fast sender ran away).
Spans of a second: the envelope of stamps with 0-20 ms of push jitter is uncertain by a few ms. The
base follows the offsets whatever was counted, so a span with a small loss is an outlier left out. A mark is not taken
on a repeated stamp (a run's stamps but its last are late; the base rides them) but before the next late one."""
JIT_FALLS, SLOPE_ERR, JIT_TIMELY = 3.0, 2.0, 0.1
"""Push jitter of tens of ms (a Bluetooth link): a full window of jittered stamps counts nothing when its least excess
is under ``JIT_FALLS x the largest recent fall + the rate error's uncertainty x the gap's samples`` (SLOPE_ERR x the
spread of the middle spans' rises over the root of their number, times SLOPE_MARKS - 1 over the spans measured).
Before the rate error is measured, a window amid stamps mostly late (under JIT_TIMELY timely) counts nothing."""
FALL_QUIET = 1.0
"""A window closes full only after its floor fell by no more than this (periods) plus a rate error (``RISE`` a sample)
for a short window (or two pushes): a sender that woke up late pushes its overdue chunks at once, all stamped late, the
floor reached at the burst's end (tests/unit/lsl/test_gaps_starved.py: such bursts were counted as losses)."""
BACK_MIN, BACK_FALLS, FALL_DECAY = 3.0, 2.0, 0.999
"""A step back counts when its stamp falls below the base by more than ``max(BACK_MIN, BACK_FALLS x the largest
recent fall)`` periods; the largest fall (of stamps below the base) decays by this factor a fall."""
BACK_RETURN_S, BACK_GLITCH_S, BACK_GLITCH_FALLS = 4.0, 1.0, 3.0
"""Stamps that come back, within BACK_RETURN_S of a step back, to the line they were on before it, within the jitter's
floor (a one-sample glitch of the sender's clock, or a clock set back and then right again): the step back was no step
of the stream's timeline, so nothing was lost; the envelope returns to that line (before: one sample stamped 10 s back
counted 1,600 samples lost at 160 Hz). A step back of BACK_GLITCH_S or more (far beyond any jitter) may come back so;
after the stream's first rate span (its jitter seen), one of ``BACK_MIN + BACK_GLITCH_FALLS x the largest recent fall``
periods too (before, only 1 s or more: one sample stamped 0.2 s back counted ~0.2 s of samples lost; within the first
span, a sender's arrival jitter made steps back of a few periods that no glitch made)."""
