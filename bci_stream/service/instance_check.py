"""A source that comes back as a new outlet instance, checked against the model as a first connection is.

liblsl re-subscribes a recovering inlet to any new outlet instance with the same name, type, source_id, channel
count and format, and a lost source is re-resolved by its selector: the new instance may list its channels in
another order, under other labels or in another unit. :class:`~bci_stream.service.source_monitor.SourceMonitor`
compares count, rate and format; this module reads the new instance's full info (a resolved info has no ``desc``)
and checks its labels and units: the model's channel map and unit scale from it
(:func:`~bci_stream.lsl.source.check_stream`, :func:`~bci_stream.lsl.units.unit_scale`) must be the ones the decoder
runs with, and every stream channel must keep its label and unit. Any difference is a ``StreamMismatchError``
naming it. It runs once per new instance (a new uid), never per chunk.
"""

from __future__ import annotations

import threading

import numpy as np
import pylsl
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.core.card import ModelCard
from bci_stream.core.channels import ch_name_key, shortlist
from bci_stream.core.errors import SourceUnavailableError, StreamMismatchError
from bci_stream.core.units import same_size
from bci_stream.lsl.info import read_labels
from bci_stream.lsl.source import check_stream
from bci_stream.lsl.units import UnitScale, read_units, unit_scale

#: how long the full info (channel labels and units) of a new outlet instance is waited for, s (~1 ms on loopback)
FULL_INFO_TIMEOUT_S = 3.0
REFUSE = ("Refusing to decode it with the channel map and unit scale of the instance the decoder started on; "
          "start a new decoder")


def came_back(was: pylsl.StreamInfo, new: pylsl.StreamInfo) -> str:
    return (f"stream {was.name()!r} (source_id {was.source_id()!r}) came back as a new outlet instance "
            f"(uid {new.uid()})")


def fetch_full_info(info: pylsl.StreamInfo, was: pylsl.StreamInfo,
                    timeout: float = FULL_INFO_TIMEOUT_S) -> pylsl.StreamInfo:
    """The full info (with its ``desc``) of the outlet instance ``info`` was resolved from, read by a short-lived
    inlet that never opens the data stream (``was``: the stream decoding started on, for the message).

    Raises
    ------
    SourceUnavailableError
        When it cannot be read within ``timeout`` s (or the instance went away): its channels cannot be checked, so
        none of its samples are decoded by this worker. Not a refusal (before: a final one, of a source that came
        back unchanged to a loaded machine: flake hunt s47): the worker is restarted from its last state, and the
        new worker connects to the stream afresh, its channel map and unit scale read from the instance it finds.
    """
    inlet = pylsl.StreamInlet(info, max_buflen=1, recover=False)
    try:
        return inlet.info(timeout=timeout)
    except (LslTimeoutError, LostError):
        raise SourceUnavailableError(
            f"{came_back(was, info)} whose channel labels and units could not be read within {timeout:g} s (its "
            "sender did not answer: starved, or a loaded machine), so they could not be checked; the worker is "
            "restarted from its last state to connect to it afresh") from None


class FullInfoRead:
    """:func:`fetch_full_info` in a helper thread, for a loop that must not wait in it: the shared worker's, whose
    other streams waited with it (a sender stopped after a resolve found its new instance held every stream of the
    worker until it answered, up to :data:`FULL_INFO_TIMEOUT_S`: audit s49). :meth:`result` is None while the read
    goes on; then the full info, or the :class:`SourceUnavailableError` the read raised (raised in the caller's
    thread: the helper thread never fails silently)."""

    def __init__(self, info: pylsl.StreamInfo, was: pylsl.StreamInfo, timeout: float = FULL_INFO_TIMEOUT_S) -> None:
        self.info = info
        self._full: pylsl.StreamInfo | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, args=(info, was, timeout), daemon=True,
                                        name=f"bci-stream-full-info-{info.name()}")
        self._thread.start()

    def _read(self, info: pylsl.StreamInfo, was: pylsl.StreamInfo, timeout: float) -> None:
        try:
            self._full = fetch_full_info(info, was, timeout)
        except BaseException as exc:  # noqa: BLE001 - raised again by result(), in the loop's thread
            self._error = exc

    def result(self) -> pylsl.StreamInfo | None:
        """The full info once read (None while the read goes on); raises what the read raised."""
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._full


def check_instance(new: pylsl.StreamInfo, was: pylsl.StreamInfo, card: ModelCard, chan_idx: np.ndarray | None,
                   scale: np.ndarray, input_unit: str | None) -> UnitScale:
    """Check the full info ``new`` of a returning source against ``was`` (the full info the decoder started on, or
    last accepted) and the running model (its ``card``, channel map ``chan_idx`` and unit ``scale``); the unit
    scale read from ``new`` (the same as ``scale``) when nothing changed.

    Raises
    ------
    StreamMismatchError
        When the model cannot read ``new`` (a channel missing, a unit that is not a voltage...), or a stream
        channel's label (compared as the service matches names: :func:`~bci_stream.core.channels.ch_name_key`) or
        unit (compared by size: ``uV`` is ``microvolts``) differs, or the model would read another stream channel
        or apply another unit factor: the message names every difference (the first few of each kind).
    """
    try:
        new_idx = check_stream(new, card)
        units = unit_scale(new, new_idx, card.ch_names, card.unit, input_unit)
    except StreamMismatchError as exc:
        raise StreamMismatchError(f"{came_back(was, new)} that model '{card.ref}' cannot read: {exc}. "
                                  f"{REFUSE}") from None
    changes = desc_changes(was, new, input_unit or card.unit)
    changes += model_changes(card, chan_idx, new_idx, scale, units.scale)
    if changes:
        body = "; ".join(changes)
        end = "" if body.endswith(".") else "."  # a list cut short ends in "..."
        raise StreamMismatchError(f"{came_back(was, new)} with other channels: {body}{end} {REFUSE}")
    return units


def desc_changes(was: pylsl.StreamInfo, new: pylsl.StreamInfo, fallback: str) -> list[str]:
    """What differs between two infos' channel labels and units, position by position (empty: nothing).
    ``fallback``: the unit a stream whose ``desc`` gives none is read in."""
    old_labels, new_labels = read_labels(was), read_labels(new)
    labels = [(i, a, b) for i, (a, b) in enumerate(zip(old_labels, new_labels)) if _key(a) != _key(b)]
    old_units, new_units = _effective_units(was, fallback), _effective_units(new, fallback)
    units = [(i, a, b) for i, (a, b) in enumerate(zip(old_units, new_units)) if not _same_unit(a, b)]
    out = []
    n = len(old_labels)
    if labels:
        out.append(f"the label of {len(labels)} of its {n} channels changed: "
                   + shortlist([f"channel {i} {b!r} (was {a!r})" for i, a, b in labels], 5))
    if units:
        pairs: dict[tuple[str | None, str | None], list[int]] = {}
        for i, a, b in units:
            pairs.setdefault((a, b), []).append(i)
        out.append(f"the unit of {len(units)} of its {n} channels changed: "
                   + shortlist([f"{b!r} (was {a!r}) on channel {shortlist(at, 5)}" for (a, b), at in pairs.items()],
                               3))
    return out


def model_changes(card: ModelCard, chan_idx: np.ndarray | None, new_idx: np.ndarray | None, scale: np.ndarray,
                  new_scale: np.ndarray) -> list[str]:
    """Which model channels the new instance would have read from another stream channel, or with another unit
    factor, than the running decoder does (empty: none)."""
    ids = np.arange(card.n_chans)
    old_at = ids if chan_idx is None else np.asarray(chan_idx)
    new_at = ids if new_idx is None else np.asarray(new_idx)
    old_scale = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), (card.n_chans,))
    out = []
    moved = [k for k in ids if old_at[k] != new_at[k]]
    if moved:
        out.append(f"model '{card.ref}' would read {len(moved)} of its {card.n_chans} channels from another stream "
                   "channel: " + shortlist([f"{card.ch_names[k]!r} from {new_at[k]} (was {old_at[k]})"
                                            for k in moved], 5))
    rescaled = [k for k in ids if not np.isclose(new_scale[k], old_scale[k], rtol=1e-9, atol=0.0)]
    if rescaled:
        out.append(f"{len(rescaled)} of its channels with another unit factor: "
                   + shortlist([f"{card.ch_names[k]!r} x{new_scale[k]:.6g} (was x{old_scale[k]:.6g})"
                                for k in rescaled], 5))
    return out


def _key(label: str | None) -> str | None:
    return None if label is None else ch_name_key(label)


def _effective_units(info: pylsl.StreamInfo, fallback: str) -> list[str | None]:
    """Each channel's unit as the decoder reads it: the ``desc``'s, or ``fallback`` for all when it gives none."""
    units = read_units(info)
    return [fallback] * len(units) if all(u is None for u in units) else units


def _same_unit(a: str | None, b: str | None) -> bool:
    return a is b if a is None or b is None else same_size(a, b)
