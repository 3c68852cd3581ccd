"""What the live scoring's own figures cannot say by themselves (status ``scoring.map_warning``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("bci_stream.worker")

#: Most outputs a live scorer keeps (``options.markers.history_s`` x the stream's rate): 70 MB at 28 bytes each.
MAX_HISTORY_SAMPLES = 2_500_000


def history_refusal(options: Any, sfreq: float | None) -> str | None:
    """Why ``options.markers.history_s`` (``options``: a :class:`~bci_stream.core.spec.MarkerOptions`) cannot be kept
    at ``sfreq`` (the model's rate), or None: more than :data:`MAX_HISTORY_SAMPLES` outputs."""
    if sfreq is None or not options.enabled or options.history_s * sfreq <= MAX_HISTORY_SAMPLES:
        return None
    return (f"options.markers.history_s={options.history_s:g} s at the model's {sfreq:g} Hz keeps "
            f"{options.history_s * sfreq:,.0f} outputs; at most {MAX_HISTORY_SAMPLES:,} (70 MB at 28 bytes each): "
            f"give history_s <= {MAX_HISTORY_SAMPLES / sfreq:g}")


#: markers received, none of them mapped, before the status says so: a few (a rest marker, a session start) may come
#: before the first cue
MAP_WARN_AFTER = 5


def map_warning(scoring: dict[str, Any]) -> str | None:
    """Said once :data:`MAP_WARN_AFTER` markers or more came and none is a cue of the map (``scoring``: a
    :meth:`~bci_stream.service.scoring.LiveScorer.describe`): annotations named other than the model's classes
    (``T1``/``T2`` for ``left``/``right``) score no trial, and nothing else in the status says why. None otherwise."""
    unmapped = int(scoring.get("markers_unmapped") or 0)
    if scoring.get("markers_mapped") or unmapped < MAP_WARN_AFTER:
        return None
    seen = ", ".join(repr(v) for v in list(scoring.get("unmapped_values") or {})[:8])
    return (f"{unmapped} markers received and none is a cue of the map {scoring.get('marker_map')} (values: {seen}):"
            " no trial is scored; map them with options.markers.marker_map")


class MapWarningNotice:
    """:func:`map_warning` in the log (a warning) and the recording's events (``map_warning``), once an episode, and
    its end (``message`` null: a cue of the map came, or a swap's new map scores them). Before, it was in the status
    only: a service run from a terminal, or a recording's reader, never heard that no trial could be scored."""

    def __init__(self, decoder_id: str) -> None:
        self.decoder_id, self.said = decoder_id, False

    def update(self, scoring: dict[str, Any] | None, on_event: Callable[..., None]) -> None:
        """Read the status's ``scoring`` (None, or scoring off: no warning); ``on_event(kind, **fields)`` records."""
        why = (scoring or {}).get("map_warning")
        if (why is not None) == self.said:
            return
        self.said = why is not None
        if why is not None:
            log.warning("decoder %s: %s", self.decoder_id, why)
        else:
            log.info("decoder %s: markers now cue trials of the scoring map", self.decoder_id)
        on_event("map_warning", message=why)
