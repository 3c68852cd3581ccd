"""A WebSocket client's resume: a new :class:`~bci_stream.service.ring.RingReader` moved back to an input sample.

A client that reconnects asks for the outputs from the ``seq`` after the last one it got (``?from_seq=``); the
output ring still holds the last ``outputs_buffer_s`` of them. :func:`seek_seq` moves a reader's cursor to the
oldest row held whose ``seq`` is at least that one, and says how many seqs before it the ring no longer holds.
"""

from __future__ import annotations

import numpy as np

from bci_stream.service.ring import RingReader


def seek_seq(reader: RingReader, seq: int) -> int:
    """Move ``reader`` (new, or any) to the oldest row its ring holds with ``seq`` at least ``seq`` (its head if none:
    from now on); the number of seqs from ``seq`` up to the oldest row held (0 when the ring holds them all, or
    nothing was written yet), which the caller counts as dropped. Rows the writer may be overwriting while this looks
    are skipped, as a read skips them."""
    ring = reader.ring
    with ring._readers:
        head = ring.head
        oldest = max(0, head - ring.capacity)
        seqs = ring._rows[np.arange(oldest, head) % ring.capacity, 0].astype(np.int64)
        lapped = ring.pending - ring.capacity - oldest  # ``pending`` is stored before a slot is touched
        if lapped > 0:
            seqs, oldest = seqs[lapped:], oldest + lapped
    reader.cursor = oldest + int(np.searchsorted(seqs, seq, side="left"))
    return max(0, int(seqs[0]) - seq) if len(seqs) else 0


__all__ = ["seek_seq"]
