"""The lookahead cost table read from a model card (a fresh checkout has no trainer report): each row's K is its
added latency times the rate (the causal row 0, the bidirectional one the whole recording), not ∞ for every row."""

from __future__ import annotations

from latency_bench.lookahead import from_card
from latency_bench.report_sections import _lookahead_md
from support.common import REPO


def test_the_cards_table_gives_each_row_its_k():
    section = from_card(REPO / "models" / "eegmmidb-s001-gru" / "model.json")
    assert section is not None and section["complete"]
    rows = {r["stage"]: r for r in section["rows"]}
    assert rows["causal"]["lookahead"] == 0 and rows["causal"]["causal"]
    assert rows["lookahead_0"]["lookahead"] == 0 and rows["lookahead_8"]["lookahead"] == 8
    assert rows["bidirectional"]["lookahead"] is None and rows["bidirectional"]["added_latency_ms"] is None
    table = [line for line in _lookahead_md(section) if line.startswith("| ")]
    ks = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table[1:]}
    assert ks["causal"] == "0" and ks["lookahead_8"] == "8" and ks["bidirectional"] == "∞"
