"""Write the step graph the service runs: preprocessing in front of a family's core, state as I/O.

Needs the ``train`` extra (``onnx``). The graph follows :mod:`bci_stream.core.contract`:

``x [B, T, C]`` → ·``scale`` (to the card's unit, float64) → causal band-pass/notch (state ``zf``,
float64) → CAR + standardisation (float32) → the family's core (a recurrent network, CSP+LDA, tangent
space + LR) → ``y [B, T, K]``.

:func:`write_model` is the one way a model folder is written: it stamps the I/O description into the
graph's ``metadata_props``, checks parity by running the *written* file with the runtime's own
:class:`~bci_stream.engine.step_model.StepModel` one sample at a time against the family's offline
reference, and only then writes ``model.onnx`` and ``model.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto
from scipy import signal as sps

from bci_stream.core.contract import METADATA_KEY, SAMPLE_AND_FILTER, SCALE, X, Y, SingleStep, StateSpec, StepSpec
from bci_stream.core.errors import ModelError
from bci_stream.train.export.folder_swap import archive_name, write_folder
from bci_stream.train.export.graph import BlockLength, GraphBuilder, add_linear_filter
from bci_stream.train.export.probe_checks import batch_problem, chunking_hint, reference_problem
from bci_stream.train.export.single_step import single_step_graph
from bci_stream.core.card import CARD_FILE, ONNX_FILE, ModelCard, Parity, sha256_file
from bci_stream.core.step_axes import RECURRENT_LAYOUT
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor

DEFAULT_MAX_BLOCK = 128
SINGLE_STEP_FILE = "model.step1.onnx"
FILTER_STATE = "zf"


def state_io(name: str) -> tuple[str, str]:
    """Graph input and output names of state ``name``."""
    return f"state/{name}", f"state_out/{name}"


def filter_state_spec(pre: Preprocessor) -> StateSpec:
    """The filter state ``zf [1, S, C]`` of a preprocessor with a filter: float64, set from the first sample."""
    z_in, z_out = state_io(FILTER_STATE)
    return StateSpec(name=FILTER_STATE, input=z_in, output=z_out, shape=[1, 2 * len(pre.sos), pre.n_chans],
                     batch_axis=0, dtype="float64", role="filter", init="first_sample",
                     init_value=sps.sosfilt_zi(pre.sos).reshape(-1).tolist())


def add_preprocessing(g: GraphBuilder, config: PreprocessingConfig, n_chans: int, sfreq: float,
                      max_block: int, dtype: str = "float32") -> tuple[str, BlockLength, list[StateSpec]]:
    """Inputs ``x``, ``scale`` and the preprocessing; returns ``(out, length, states)``.

    ``out`` is the preprocessed ``[B, T, C]`` in ``dtype`` (``float32`` or ``float64``): scaling and
    the filter always run in float64; CAR and standardisation run in ``dtype``.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    pre = Preprocessor(config, n_chans, sfreq)
    g.add_input(X, np.float32, ["B", "T", n_chans])
    g.add_input(SCALE, np.float64, ["B", 1, n_chans])
    length = BlockLength(g, X)
    x64 = g.op("Cast", [X], "pre/x64", to=TensorProto.DOUBLE)
    cur = g.op("Mul", [x64, SCALE], "pre/scaled")
    states = []
    if pre.sos is not None:
        a, b, c, d = pre.state_space
        n_states = len(a)
        z_in, z_out = state_io(FILTER_STATE)
        g.add_input(z_in, np.float64, ["B", n_states, n_chans])
        g.add_output(z_out, np.float64, ["B", n_states, n_chans])
        cur = add_linear_filter(g, cur, z_in, z_out, a, b, c, d, max_block, length, "pre/filter")
        states.append(filter_state_spec(pre))
    if dtype == "float32":
        cur = g.op("Cast", [cur], "pre/y32", to=TensorProto.FLOAT)
    if pre.affine is not None:
        spatial, offset = pre.affine
        cur = g.op("Add", [g.op("MatMul", [cur, g.const(spatial, "pre/spatial", dtype)]),
                           g.const(offset, "pre/offset", dtype)], "pre/out")
    return cur, length, states


def add_single_sample_preprocessing(g: GraphBuilder, config: PreprocessingConfig, n_chans: int,
                                    sfreq: float) -> str:
    """Preprocessing of the single-sample graph: input ``xz [1 + S, C]`` float64, the sample (already in the
    card's unit: the runtime multiplies it by ``scale`` as it writes it) in row 0 and the filter state in
    rows 1.., so the filter is two MatMuls and no Concat; output ``state_out/zf [S, C]``. Returns the
    preprocessed ``[1, 1, C]`` float32. Needs a filter (see :func:`single_sample_packing`)."""
    pre = Preprocessor(config, n_chans, sfreq)
    a, b, c, d = pre.state_space
    n_states = len(a)
    g.add_input(SAMPLE_AND_FILTER, np.float64, [1 + n_states, n_chans])
    z_out = state_io(FILTER_STATE)[1]
    g.add_output(z_out, np.float64, [n_states, n_chans])
    out_row = np.concatenate([[[d]], c], axis=1)  # y_f = D x + C z
    next_rows = np.concatenate([b, a], axis=1)  # z' = B x + A z
    y = g.op("MatMul", [g.const(out_row, "pre/out_row", np.float64), SAMPLE_AND_FILTER], "pre/y")
    g.op("MatMul", [g.const(next_rows, "pre/next_rows", np.float64), SAMPLE_AND_FILTER], outputs=[z_out])
    cur = g.op("Cast", [y], "pre/y32", to=TensorProto.FLOAT)
    if pre.affine is not None:
        spatial, offset = pre.affine
        cur = g.op("Gemm", [cur, g.const(spatial, "pre/spatial", np.float32),
                            g.const(offset, "pre/offset", np.float32)],
                   "pre/affine")
    return g.op("Reshape", [cur, g.const([1, 1, n_chans], "pre/shape", np.int64)], "pre/out")


def recurrent_step_graph(core: onnx.ModelProto, config: PreprocessingConfig, n_chans: int, sfreq: float,
                         n_outputs: int, cell: str, n_layers: int, hidden_size: int,
                         max_block: int = DEFAULT_MAX_BLOCK, *, single: bool = False
                         ) -> tuple[onnx.ModelProto, StepSpec]:
    """Preprocessing in front of an exported recurrent core.

    ``core`` has inputs ``x [B, T, C]`` (preprocessed), ``h0`` (+ ``c0``) ``[L, B, H]`` and outputs
    ``y [B, T, K]``, ``hn`` (+ ``cn``): what ``torch.onnx.export`` of a ``CausalRNN`` gives (not modified).
    With ``single``, the graph for one sample of one stream (B = T = 1, :func:`add_single_sample_preprocessing`);
    the returned spec is the step graph's either way.
    """
    core = onnx.ModelProto.FromString(core.SerializeToString())  # its nodes are renamed below
    g = GraphBuilder()
    if single:
        pre32 = add_single_sample_preprocessing(g, config, n_chans, sfreq)
        states = [filter_state_spec(Preprocessor(config, n_chans, sfreq))]
    else:
        pre32, _, states = add_preprocessing(g, config, n_chans, sfreq, max_block)
    batch = 1 if single else "B"
    pairs = [("h0", "hn")] + ([("c0", "cn")] if cell == "lstm" else [])
    rename = {"x": pre32, "y": Y}
    for s_in, s_out in pairs:
        name_in, name_out = state_io(s_in)
        rename[s_in], rename[s_out] = name_in, name_out
        g.add_input(name_in, np.float32, [n_layers, batch, hidden_size])
        states.append(StateSpec(name=s_in, input=name_in, output=name_out, shape=[n_layers, 1, hidden_size],
                                batch_axis=1, dtype="float32", role="recurrent", init="zeros"))
    core_inputs = {i.name for i in core.graph.input}
    if core_inputs != {"x", *(p[0] for p in pairs)}:
        raise ModelError(f"recurrent core must have inputs x, {', '.join(p[0] for p in pairs)}; "
                         f"got {sorted(core_inputs)}")
    for node in core.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
        g.nodes.append(node)
    g.initializers.extend(core.graph.initializer)
    g.add_output(Y, np.float32, [batch, 1 if single else "T", n_outputs])
    for s_in, s_out in pairs:
        g.add_output(state_io(s_in)[1], np.float32, [n_layers, batch, hidden_size])
    spec = StepSpec(family="recurrent", n_chans=n_chans, n_outputs=n_outputs, max_block=max_block,
                    states=_ordered(states))
    return g.model("recurrent_step", f"bci-stream recurrent step graph ({cell})"), spec


def recurrent_graphs(core: onnx.ModelProto, config: PreprocessingConfig, n_chans: int, sfreq: float,
                     n_outputs: int, cell: str, n_layers: int, hidden_size: int
                     ) -> tuple[onnx.ModelProto, StepSpec, onnx.ModelProto | None]:
    """The step graph, its spec, and the single-sample graph (None without a filter: nothing to pack)."""
    proto, spec = recurrent_step_graph(core, config, n_chans, sfreq, n_outputs, cell, n_layers, hidden_size)
    single = None
    if Preprocessor(config, n_chans, sfreq).sos is not None:
        single = recurrent_step_graph(core, config, n_chans, sfreq, n_outputs, cell, n_layers, hidden_size,
                                      single=True)[0]
    return proto, spec, single


def _ordered(states: list[StateSpec]) -> list[StateSpec]:
    return sorted(states, key=lambda s: {"filter": 0, "estimator": 1, "recurrent": 2}[s.role])


def write_model(proto: onnx.ModelProto, spec: StepSpec, out_dir: Path | str, card_fields: dict[str, Any],
                reference: Callable[[np.ndarray], np.ndarray], *, parity_input: np.ndarray,
                parity_tolerance: float = 1e-4, single: onnx.ModelProto | None = None,
                keep: Mapping[str, Path] | None = None) -> ModelCard:
    """Stamp metadata, check parity of the written graph, then write ``out_dir/model.{onnx,json}``.

    Parameters
    ----------
    proto, spec
        The step graph and its I/O description.
    card_fields
        Every card field but ``sha256``, ``step``, ``inputs``, ``outputs``, ``parity``, ``format_version``.
    reference
        The family's offline computation: raw ``x [T, C]`` (card unit) -> ``y [T, K]``.
    single
        The same computation for one sample of one stream (e.g. ``recurrent_step_graph(..., single=True)``),
        simplified (:mod:`~bci_stream.train.export.single_step`) and written beside the step graph; the
        runtime uses it per sample, and the parity check covers both graphs.
    parity_input
        Raw samples ``[T, C]`` for the check; the written graph runs them one sample at a time.
    keep
        Files copied into the folder with the model, by name (e.g. ``upgrade-model`` keeps the author's format-1
        graph as ``model.format1.onnx``); the registry reads only ``model.json`` and the files it names.

    Raises
    ------
    ModelError
        When the step-by-step output differs from ``reference`` by more than ``parity_tolerance``
        (nothing is written).
    """
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.export.provenance import provenance

    # what made it (code digest, library versions): the card only, so the graph's bytes stay the fit's
    card_fields = {**card_fields, "training": {**(card_fields.get("training") or {}), "provenance": provenance()}}
    meta = {METADATA_KEY: spec.model_dump_json(), "name": card_fields["name"], "version": card_fields["version"],
            "n_chans": str(spec.n_chans), "sfreq": repr(float(card_fields["sfreq"])),
            "ch_names": json.dumps(list(card_fields["ch_names"])),
            "output_kind": card_fields["output"].kind if hasattr(card_fields["output"], "kind")
            else card_fields["output"]["kind"],
            "output_labels": json.dumps(list(card_fields["output"].labels if hasattr(card_fields["output"], "labels")
                                             else card_fields["output"]["labels"]))}
    if (unit := card_fields.get("unit")) is not None:  # the unit it reads its input in, for the card check
        meta["unit"] = str(unit)
    if (pre := card_fields.get("preprocessing")) is not None:  # what the graph's front end does, for the card check
        meta["preprocessing"] = PreprocessingConfig.model_validate(pre).model_dump_json()
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        simplified = single_step_graph(single, spec) if single is not None else None
        if simplified is not None:
            single_tmp = Path(tmp) / SINGLE_STEP_FILE
            onnx.save(simplified[0], str(single_tmp))
            packed = FILTER_STATE if SAMPLE_AND_FILTER in {i.name for i in simplified[0].graph.input} else None
            spec = spec.model_copy(update={"single_step": SingleStep(
                file=SINGLE_STEP_FILE, sha256=sha256_file(single_tmp), split=simplified[1],
                sample_and_filter=packed)})
            meta[METADATA_KEY] = spec.model_dump_json()
        onnx.helper.set_model_props(proto, meta)
        onnx_tmp = Path(tmp) / ONNX_FILE
        onnx.save(proto, str(onnx_tmp))
        draft = ModelCard(format_version=2, sha256=sha256_file(onnx_tmp), step=spec, inputs=spec.input_names,
                          outputs=spec.output_names, **card_fields)
        try:
            model = StepModel(onnx_tmp, draft)  # checks the graph's axes against the card (core.step_axes), and more
        except ModelError as exc:  # said of the export, naming no temporary file
            why = str(exc).removeprefix(f"model '{draft.ref}': ").replace(str(onnx_tmp), "the step graph")
            raise ModelError(f"export of {draft.ref} refused: {why}") from None
        x = np.ascontiguousarray(parity_input, dtype=np.float32)
        state = model.new_state()
        y_step = np.concatenate([model.run(x[t:t + 1], state) for t in range(len(x))])
        y_chunks = model.run(x, model.new_state())  # the general graph, in blocks of max_block
        y_ref = np.asarray(reference(x), dtype=np.float64)
        if (why := reference_problem(draft.ref, draft.output.kind, y_ref)) is not None:
            raise ModelError(why)
        diff = float(max(np.abs(y_step - y_ref).max(), np.abs(y_chunks - y_ref).max()))
        if not diff <= parity_tolerance:
            raise ModelError(f"export of {draft.ref} refused: the step graph run one sample at a time differs from "
                             f"the offline reference by {diff:.3g} (tolerance {parity_tolerance:g}) over {len(x)} "
                             "samples"
                             + chunking_hint(y_step, y_chunks, spec.max_block, parity_tolerance))
        if (why := batch_problem(model, x, y_chunks, parity_tolerance)) is not None:
            raise ModelError(f"export of {draft.ref} refused: {why}" + (
                RECURRENT_LAYOUT if any(st.role == "recurrent" for st in spec.states) else ""))
        card = draft.model_copy(update={"parity": Parity(n_samples=len(x), max_abs_diff=diff,
                                                         tolerance=parity_tolerance)})

        def fill(folder: Path) -> None:
            shutil.copyfile(onnx_tmp, folder / ONNX_FILE)
            if simplified is not None:
                shutil.copyfile(single_tmp, folder / SINGLE_STEP_FILE)
            (folder / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
            for name, source in (keep or {}).items():
                shutil.copyfile(source, folder / name)

        # as one change: a service reading the registry meanwhile sees the old model or this one (folder_swap)
        write_folder(out_dir, fill, replaced=(ONNX_FILE, SINGLE_STEP_FILE, CARD_FILE, *(keep or {})),
                     archive=archive_name(out_dir, card.name, card.version))
    return card
