"""The nets one training run trains, in order (its *stages*), and the one it exports.

Every run trains the causal net; with ``evaluation.bidirectional`` a bidirectional net (the teacher), for each K in
``evaluation.lookaheads`` a bidirectional net that sees K samples ahead, and with ``evaluation.distillation`` (and a
teacher) a causal student distilled from the teacher. The bidirectional nets share the causal net's cell, per-layer
widths and front-end. ``export.model`` picks the exported one: the causal net, or the student.
"""

from __future__ import annotations

import dataclasses

from bci_stream.train.config import ConfigError, RunConfig
from bci_stream.train.infer import Net
from bci_stream.train.nets.birnn import BiRNN
from bci_stream.train.nets.presets import preset_args
from bci_stream.train.nets.rnn import CausalRNN


def build_causal(config: RunConfig, n_chans: int, n_outputs: int) -> CausalRNN:
    """The causal net of ``model`` (a preset, per-layer widths, or one width and a layer count, in that order; the
    config refuses a key of the others that it would not follow: :mod:`bci_stream.train.config_model`)."""
    m = config.model
    if m.preset:
        args = preset_args(m.preset)
    elif m.hidden_sizes:
        args = {"cell": m.cell, "hidden_sizes": m.hidden_sizes}
    else:
        args = {"cell": m.cell, "hidden_size": m.hidden_size, "n_layers": m.n_layers}
    return CausalRNN(n_chans, n_outputs, dropout=m.dropout, input_dropout=m.input_dropout,
                     attention_window=m.attention_window, power_filters=m.power_filters, **args)


def build_bidirectional(config: RunConfig, n_chans: int, n_outputs: int, lookahead: int | None) -> BiRNN:
    """The same cell, per-layer widths and front-end as the causal net, in both directions."""
    ref = build_causal(config, n_chans, n_outputs)
    return BiRNN(n_chans, n_outputs, hidden_sizes=ref.hidden_sizes, cell=ref.cell, lookahead=lookahead,
                 dropout=config.model.dropout, input_dropout=config.model.input_dropout,
                 power_filters=config.model.power_filters)


@dataclasses.dataclass
class Stage:
    """One net of the run: its name (``causal``, ``bidirectional``, ``lookahead_<K>``, ``distilled``) and role."""

    name: str
    net: Net
    lookahead: int | None  # None: unbounded future (for a BiRNN); 0 for a causal net
    causal: bool
    teacher: bool = False
    distilled: bool = False


def plan_stages(config: RunConfig, n_chans: int, n_outputs: int) -> list[Stage]:
    """The stages of a run, in training order (the teacher before the student it teaches)."""
    ev = config.evaluation
    stages = [Stage("causal", build_causal(config, n_chans, n_outputs), 0, True)]
    if ev.bidirectional:
        stages.append(Stage("bidirectional", build_bidirectional(config, n_chans, n_outputs, None), None, False,
                            teacher=True))
    for k in ev.lookaheads:
        stages.append(Stage(f"lookahead_{k}", build_bidirectional(config, n_chans, n_outputs, k), k, False))
    if ev.distillation.enabled and ev.bidirectional:
        stages.append(Stage("distilled", build_causal(config, n_chans, n_outputs), 0, True, distilled=True))
    return stages


def _chosen(config: RunConfig, stages: list[Stage]) -> Stage:
    """The stage ``export.model`` names (the checkpoint's and the export's); ConfigError when the run lacks it."""
    want = "distilled" if config.export.model == "student" else "causal"
    for s in stages:
        if s.name == want:
            return s
    raise ConfigError(f"export.model = {config.export.model!r} needs the {want!r} stage, which this run does not "
                      f"train (stages: {[s.name for s in stages]})")
