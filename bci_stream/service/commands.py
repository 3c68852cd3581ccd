"""Commands from the supervisor, handled by a worker between two chunks; each answered with a typed Reply."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from multiprocessing.connection import Connection

import numpy as np
import pylsl

from bci_stream.core.messages import (NO_STATE_YET, Command, GetState, RecoverMarkers, Reply, Reset, Retry, SetState,
                                      StateChanged, StateSnapshot, Stop, SwapModel, host_boot_id)
from bci_stream.core.load_errors import TransientLoadFailures, load_error
from bci_stream.engine.step_model import StepModel
from bci_stream.core.errors import ModelError, ModelUnavailableError
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import gap_policy_refusal
from bci_stream.core.units import same_size
from bci_stream.lsl.info import read_labels, read_types
from bci_stream.lsl.source import check_stream, label_report
from bci_stream.lsl.units import UnitScale, unit_scale
from bci_stream.service.decoding import StreamDecoder, model_info
from bci_stream.service.markers import MarkerHub
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.stream_units import StreamUnits
from bci_stream.service.swap_checks import outputs_refusal

log = logging.getLogger("bci_stream.worker")

#: The refusals of a swap that a retry can cure (sent with ``Retry.BUSY``, as :data:`NO_STATE_YET`).
SWAP_IN_PROGRESS = "a model swap is already in progress; retry once it is done"
NOT_CONNECTED_YET = "the decoder is not connected to its stream yet; retry when running"
#: A swap sent before the decoder decodes (``{state}``: its status state, ``connecting`` while it looks for its stream).
SWAP_NOT_RUNNING = ("the decoder is still {state} (status state {state!r}): a model swap is taken once it decodes its "
                    "stream (status state 'running'); retry then")


@dataclass
class _LoadedModel:
    """What the swap thread hands to the hot loop: a warmed model, or why it could not be loaded."""

    command: SwapModel
    model: StepModel | None = None
    chan_idx: np.ndarray | None = None
    scale: np.ndarray | None = None
    units: UnitScale | None = None  # how the new model reads the stream's channels
    error: str | None = None
    retry: Retry | None = None  # the error is a passing condition of the server (ModelUnavailableError)


class CommandHandler:
    """Reads the command pipe and applies commands to the stream's decoder.

    Parameters
    ----------
    conn
        The worker's end of the command pipe.
    reporter
        The worker's status (counters, model description).
    models_dir
        The registry that hot swaps load from.
    on_event
        ``on_event(kind, **fields)``: service events (the recorder).
    load_model
        ``load_model(entry) -> StepModel`` for hot swaps (default: a new session; a shared worker's cache).
    """

    def __init__(self, conn: Connection, reporter: StatusReporter, models_dir: str,
                 on_event: Callable[..., None], load_model: Callable[[Any], StepModel] | None = None) -> None:
        self.conn = conn
        self.load_model = load_model or (lambda entry: StepModel(entry.onnx_path, entry.card))
        self.reporter = reporter
        self.models_dir = models_dir
        self.on_event = on_event
        self.decoder: StreamDecoder | None = None  # set once the stream is connected
        self.source: pylsl.StreamInfo | None = None
        self.units: StreamUnits | None = None  # the stream's units and amplitude warning (set with the decoder)
        self.markers: MarkerHub | None = None  # the marker following, set once connected (RecoverMarkers)
        #: While the worker holds its first output for a consumer (``consumer_wait.await_consumers``): a command's
        #: refusal saying so (else :data:`NO_STATE_YET` or :data:`SWAP_NOT_RUNNING`).
        self.consumer_wait: str | None = None
        self.stop_requested = False
        self._loaded: _LoadedModel | None = None
        self._swap_thread: threading.Thread | None = None
        # a swap's model that never fits is refused, not retried forever. Counted per worker process, not carried
        # over a restart as totals are: the shortage it counts (memory, file descriptors) is the process's own
        self.load_failures = TransientLoadFailures()

    def reply(self, command: Command, ok: bool, payload: object = None, error: str | None = None,
              retry: Retry | None = None) -> None:
        if command.request_id is None:
            return
        try:
            self.conn.send(Reply(command.request_id, ok, payload, error, retry))
        except (OSError, BrokenPipeError):
            self.stop_requested = True

    def poll(self) -> None:
        """Handle every command waiting in the pipe."""
        while self.conn.poll():
            try:
                command = self.conn.recv()
            except (EOFError, OSError):
                self.stop_requested = True
                return
            self.handle(command)

    def handle(self, command: Command) -> None:
        if isinstance(command, Stop):
            self.stop_requested = True
            self.reply(command, True)
            return
        if not isinstance(command, Command):
            log.warning("decoder %s: unknown command %r ignored", self.reporter.decoder_id, command)
            return
        if isinstance(command, RecoverMarkers):  # from the supervisor's witness (no answer): markers, not the state
            if self.markers is not None:
                self.markers.recover(command.markers)
            return
        if (late := command.late(host_boot_id(), time.monotonic(), time.time())) is not None:  # answered 504
            log.warning("decoder %s: %s read %.1f s after its sender stopped waiting: not applied",
                        self.reporter.decoder_id, command.kind, late)
            self.reply(command, False, error=f"{command.kind} arrived after its sender stopped waiting: not applied")
            return
        decoder = self.decoder
        if decoder is None:
            why = SWAP_NOT_RUNNING.format(state=self.reporter.status.state) if isinstance(command, SwapModel) else None
            self.reply(command, False, error=self.consumer_wait or why or NO_STATE_YET, retry=Retry.BUSY)
            return
        seq = decoder.seq  # the first input sample a reset or restore applies to (the new state epoch's first seq)
        if isinstance(command, Reset):
            epoch = decoder.reset()
            if self.markers is not None:  # a reset on a cue starts its trial (options.markers.reset_grace_s)
                self.markers.state_started(epoch, seq)
            self.on_event("reset", seq=seq)
            self.reply(command, True, StateChanged(epoch, seq, counters=self.counters()))
        elif isinstance(command, GetState):
            self.reply(command, True, StateSnapshot(self.reporter.status.model, seq,
                                                    self.reporter.counters.state_epoch, decoder.snapshot()))
        elif isinstance(command, SetState):
            try:
                epoch = decoder.restore(command.arrays, command.sha256)
            except (ValueError, TypeError, OverflowError) as exc:
                self.reply(command, False, error=str(exc))
                return
            if self.markers is not None:
                self.markers.state_started(epoch, seq)
            self.on_event("restore", seq=seq)
            self.reply(command, True, StateChanged(epoch, seq, counters=self.counters()))
        elif isinstance(command, SwapModel):
            self.start_swap(command)
        else:
            self.reply(command, False, error=f"unknown command {type(command).__name__!r}")

    def counters(self) -> dict[str, int]:
        """The counters as the status reports them (for a command's answer, newer than the last snapshot)."""
        return dataclasses.asdict(self.reporter.counters)

    # -- hot swap ------------------------------------------------------------------------------------

    def start_swap(self, command: SwapModel) -> None:
        """Load and warm the new model in a thread; :meth:`finish_swap` switches between two chunks."""
        if self._swap_thread is not None and self._swap_thread.is_alive():
            self.reply(command, False, error=SWAP_IN_PROGRESS, retry=Retry.BUSY)
            return
        decoder, source = self.decoder, self.source
        if decoder is None or source is None:
            self.reply(command, False, error=NOT_CONNECTED_YET, retry=Retry.BUSY)
            return

        def load() -> None:
            loaded = _LoadedModel(command)
            key = command.model  # the model file, once its card is read (TransientLoadFailures)
            try:
                entry = ModelRegistry(self.models_dir).get(command.model)
                key = entry.card.sha256
                card, old = entry.card, decoder.card
                loaded.chan_idx = check_stream(source, card)
                units = unit_scale(source, loaded.chan_idx, card.ch_names, card.unit, decoder.options.input_unit)
                if units.assumed and not decoder.options.input_unit and not same_size(card.unit, old.unit):
                    raise ModelError(
                        f"model '{card.ref}' is in {card.unit!r}; the running decoder reads its stream, whose channels "
                        f"carry no unit, in its card's {old.unit!r}. A swap would read the same samples in another "
                        "unit; start a new decoder with options.input_unit set to the stream's unit")
                loaded.scale, loaded.units = units.scale, units
                if (why := gap_policy_refusal(decoder.options, card)) is not None:  # the API refuses it first (422)
                    raise ModelError(why)
                if (why := outputs_refusal(card, old.output.kind, old.output.labels)) is not None:
                    raise ModelError(why)
                model = self.load_model(entry)
                model.warm_up()
                loaded.model = model
                self.load_failures.clear()
            except Exception as exc:  # noqa: BLE001 - report anything, never kill the decoder
                error = load_error(exc, f"model {command.model!r}")  # ours as is; OSError: transient or permanent
                if isinstance(error, ModelUnavailableError):  # counted: the last one allowed in a row is a ModelError
                    error = self.load_failures.failed(key, f"model {command.model!r}", error)
                else:
                    self.load_failures.clear()
                loaded.error, loaded.retry = str(error), error.retry
            self._loaded = loaded

        self._swap_thread = threading.Thread(target=load, name="bci-stream-swap", daemon=True)
        self._swap_thread.start()

    @property
    def swap_ready(self) -> bool:
        return self._loaded is not None

    def finish_swap(self) -> None:
        """Between two chunks: switch to the loaded model (or report why it was refused)."""
        loaded, self._loaded = self._loaded, None
        if loaded is None or self.decoder is None:
            return
        late = loaded.command.late(host_boot_id(), time.monotonic(), time.time()) is not None
        if late and loaded.error is None:  # its sender was answered 504: the running model stays
            loaded.error = (f"the model {loaded.command.model!r} was ready after the swap's sender stopped waiting: "
                            "not swapped")
        if loaded.error is not None or loaded.model is None:
            self.on_event("swap_refused", error=loaded.error, retry=loaded.retry)
            self.reply(loaded.command, False, error=loaded.error, retry=loaded.retry)
            return
        status = self.reporter.status
        epoch = self.decoder.swap(loaded.model, loaded.chan_idx, loaded.scale)
        if self.markers is not None:  # the scoring follows the running model's marker map (scoring_swap)
            self.markers.swapped(loaded.model.card, epoch)
            status.markers, status.scoring = self.markers.describe()  # in the answer and the next snapshot (before:
            status.markers["generation"] = self.reporter.generation  # the last model's, until the next housekeeping)
        before, status.model = status.model, model_info(loaded.model)
        if status.stream is not None:
            status.stream["channel_map"] = None if loaded.chan_idx is None else loaded.chan_idx.tolist()
            if self.source is not None:  # which channels the new model reads under another name, or passes over
                status.stream["labels"] = label_report(read_labels(self.source), loaded.model.card.ch_names,
                                                       read_types(self.source))
            # the units of the channels the new model reads; the same assumed unit keeps its amplitude warning
            status.stream["units"] = self.units.change(loaded.units, loaded.chan_idx, new_instance=False)
        self.on_event("swap", previous=before, model=status.model, seq=self.decoder.seq)
        self.reply(loaded.command, True, StateChanged(epoch, self.decoder.seq, status.model, self.counters(),
                                                      status.stream, status.scoring, status.markers))
        self.reporter.report()
