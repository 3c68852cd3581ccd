"""What the live scoring's own figures cannot say by themselves (status ``scoring.map_warning``)."""

from __future__ import annotations

from typing import Any

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
