"""The memory the GDF overflow test (``bci_stream.io.gdf.overflow_mask``) takes beside the data mne holds (review s19
R7): it reads the file's channels one at a time and fills its two bool masks in place, so its peak is those masks (a
quarter of the float64 data) plus one channel's temporaries. Before, it held two full-length bool rows per channel in
lists, int64 index arrays and their stacked copies: about 0.9x the data, on top of mne's copy and the Recording.

Data: 32 channels x 120 s at 256 Hz of Gaussian noise written as int16 GDF by ``tests/support/gdf.py`` (a realistic
size for the layout; the samples' values do not change the allocation). Peaks are tracemalloc's (deterministic).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from bci_stream.io.gdf import overflow_mask, read_gdf_header
from support.gdf import write_gdf

N_CHANS, SFREQ, SECONDS = 32, 256.0, 120


def test_the_overflow_mask_takes_its_outputs_and_one_channel_s_temporaries(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(0, 20, (N_CHANS, int(SFREQ * SECONDS)))
    x[:, 1000:1100] = x.min() - 5  # a gap on every channel, so the missing rule runs too
    path = write_gdf(tmp_path / "long.gdf", x, SFREQ, [f"E{k}" for k in range(N_CHANS)],
                     physical=(float(x.min()), float(x.max()) + 5))
    header = read_gdf_header(path)
    assert header is not None

    tracemalloc.start()
    try:
        found = overflow_mask(path, header, list(range(N_CHANS)), x.shape[1], SFREQ)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert found is not None and found.missing == 100  # the test did run on every channel
    outputs = found.nan.nbytes + found.kept.nbytes  # 2 bytes per value: a quarter of the float64 data
    assert peak < 0.3 * x.nbytes  # HEAD b76bfb5: 0.94 x
    assert peak - outputs < 12 * x.shape[1]  # one channel's bool temporaries (HEAD: ~170 rows' worth)
