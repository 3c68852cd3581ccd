"""The live scorer's history is bounded in outputs, not only in seconds: ``options.markers.history_s`` x the model's
rate above :data:`MAX_HISTORY_SAMPLES` (70 MB at 28 bytes an output; 1200 s at 8192 Hz would take 275 MB per
decoder) is refused naming the field, the rate, the count and the most it may be; ``evaluate --live`` asks for no
more."""

from __future__ import annotations

from bci_stream.core.spec import MarkerOptions
from bci_stream.service.scoring import MAX_HISTORY_SAMPLES, history_refusal
from bci_stream.train.evaluate.live_scoring import scorer_history_s


def test_a_history_beyond_the_bound_is_refused_naming_field_rate_count_and_limit() -> None:
    why = history_refusal(MarkerOptions(history_s=1200), 8192.0)
    assert why is not None and why.startswith("options.markers.history_s=1200 s at the model's 8192 Hz keeps "
                                              "9,830,400 outputs; at most 2,500,000")
    assert why.endswith(f"give history_s <= {MAX_HISTORY_SAMPLES / 8192:g}")
    assert history_refusal(MarkerOptions(history_s=1200), 2048.0) is None  # 2,457,600 outputs
    assert history_refusal(MarkerOptions(), 8192.0) is None  # the default 30 s
    assert history_refusal(MarkerOptions(enabled=False, history_s=1200), 8192.0) is None
    assert history_refusal(MarkerOptions(history_s=1200), None) is None


def test_evaluate_asks_for_no_more_history_than_the_service_keeps() -> None:
    assert scorer_history_s(32, 160.0) == 960.0  # 30 s of wall time at 32x
    assert scorer_history_s(32, 4096.0) * 4096.0 <= MAX_HISTORY_SAMPLES
    assert history_refusal(MarkerOptions(history_s=scorer_history_s(32, 4096.0)), 4096.0) is None
