"""Regenerate tests/data (the small real-EEG subset shipped with the repository) from ../shared/data.

Usage (from the repository root)::

    python tests/data/make_subset.py [--src ../shared/data] [--check]

What it writes (see tests/data/README.md for licence and citations):

* ``eegmmidb/S001/S001R06.edf``: the PhysioNet original, copied byte for byte.
* ``eegmmidb/S001-21ch/S001R{05,06,09,10}.edf``: the same runs, full length, cut down to the 21
  sensorimotor channels FC5..CP6 **at the byte level**: the EDF+ header is rewritten for 22 signals (21 EEG +
  ``EDF Annotations``) and every data record keeps, unchanged, the bytes of those 22 signals. The 16-bit
  digital samples, each channel's physical/digital range (hence its scaling), labels, prefiltering fields,
  start date/time, record duration and the annotation channel (T0/T1/T2 events) are the original bytes.
* ``SHA256SUMS``: the SHA-256 of every file written.

Each source file is checked against the SHA-256 list that MNE ships (``mne/data/eegbci_checksums.txt``) when
mne is importable, and each derived file is checked to decode (with mne) to exactly the original's values on
those channels and to the same annotations. ``--check`` only verifies that tests/data matches what this
script would write, without writing.

Needs only the standard library to write; numpy and mne for the verification.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SUBJECT = "S001"
ORIGINAL_RUNS = (6,)  # copied byte for byte
SENSORIMOTOR_RUNS = (5, 6, 9, 10)  # fists vs feet: executed R05/R09, imagined R06/R10
# The FC, C and CP rows of the 10-10 system, in EEGMMIDB's spelling (the first 21 signals of every run).
SENSORIMOTOR = ("Fc5.", "Fc3.", "Fc1.", "Fcz.", "Fc2.", "Fc4.", "Fc6.",
                "C5..", "C3..", "C1..", "Cz..", "C2..", "C4..", "C6..",
                "Cp5.", "Cp3.", "Cp1.", "Cpz.", "Cp2.", "Cp4.", "Cp6.")
ANNOTATIONS = "EDF Annotations"
# Per-signal header fields of EDF, in order, with their widths in bytes.
SIGNAL_FIELDS = (("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8), ("physical_max", 8),
                 ("digital_min", 8), ("digital_max", 8), ("prefiltering", 80), ("n_samples", 8), ("reserved", 32))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_edf(blob: bytes) -> tuple[bytes, list[dict[str, bytes]], int, int]:
    """The fixed 256-byte head, the per-signal header fields (raw bytes), the record count and record size."""
    head = blob[:256]
    ns = int(head[252:256])
    header_bytes = int(head[184:192])
    n_records = int(head[236:244])
    if header_bytes != 256 * (ns + 1):
        raise ValueError(f"header_bytes must be 256 * (ns + 1) = {256 * (ns + 1)}; got {header_bytes}")
    signals: list[dict[str, bytes]] = [{} for _ in range(ns)]
    off = 256
    for name, width in SIGNAL_FIELDS:
        for i in range(ns):
            signals[i][name] = blob[off + i * width: off + (i + 1) * width]
        off += width * ns
    record_size = sum(2 * int(s["n_samples"]) for s in signals)
    if len(blob) != header_bytes + n_records * record_size:
        raise ValueError(f"file size must be header + n_records * record size = "
                         f"{header_bytes + n_records * record_size}; got {len(blob)}")
    return head, signals, n_records, record_size


def subset_edf(blob: bytes, keep_labels: tuple[str, ...]) -> bytes:
    """An EDF+ file with only the signals labelled ``keep_labels`` (in file order) plus ``EDF Annotations``."""
    head, signals, n_records, record_size = parse_edf(blob)
    labels = [s["label"].decode("ascii").strip() for s in signals]
    missing = [n for n in (*keep_labels, ANNOTATIONS) if n not in labels]
    if missing:
        raise ValueError(f"keep_labels must be signals of the file; missing {missing}")
    keep = [i for i, n in enumerate(labels) if n in keep_labels or n == ANNOTATIONS]
    ns = len(keep)
    new_head = head[:184] + f"{256 * (ns + 1):<8d}".encode("ascii") + head[192:252] + f"{ns:<4d}".encode("ascii")
    fields = b"".join(signals[i][name] for name, _ in SIGNAL_FIELDS for i in keep)
    starts, pos = [], 0
    for s in signals:
        starts.append(pos)
        pos += 2 * int(s["n_samples"])
    spans = [(starts[i], starts[i] + 2 * int(signals[i]["n_samples"])) for i in keep]
    data_start = 256 * (len(signals) + 1)
    body = bytearray()
    for r in range(n_records):
        rec = blob[data_start + r * record_size: data_start + (r + 1) * record_size]
        for a, b in spans:
            body += rec[a:b]
    return new_head + fields + bytes(body)


def mne_checksums() -> dict[str, str]:
    """``{"S001/S001R06.edf": sha256}`` from the list MNE ships, or {} without mne."""
    try:
        import mne
    except ImportError:
        return {}
    path = Path(mne.__file__).parent / "data" / "eegbci_checksums.txt"
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def verify_subset(original: Path, derived: Path, keep_labels: tuple[str, ...]) -> str:
    """Decode both with mne: the derived file's values and annotations equal the original's. A one-line summary."""
    try:
        import mne
        import numpy as np
    except ImportError:
        return "not verified (mne missing)"
    a = mne.io.read_raw_edf(original, preload=True, verbose="error")
    b = mne.io.read_raw_edf(derived, preload=True, verbose="error")
    names = [n for n in a.ch_names if n in keep_labels]
    if b.ch_names != names:
        raise ValueError(f"{derived}: channels must be {names}; got {b.ch_names}")
    if not np.array_equal(a.get_data(picks=names), b.get_data()):
        raise ValueError(f"{derived}: samples differ from {original}")
    ann_a = [(o, d, s) for o, d, s in zip(a.annotations.onset, a.annotations.duration, a.annotations.description)]
    ann_b = [(o, d, s) for o, d, s in zip(b.annotations.onset, b.annotations.duration, b.annotations.description)]
    if ann_a != ann_b:
        raise ValueError(f"{derived}: annotations differ from {original}")
    if (a.info["sfreq"], a.n_times) != (b.info["sfreq"], b.n_times):
        raise ValueError(f"{derived}: sfreq/length differ from {original}")
    return f"{len(names)} ch x {b.n_times} samples identical, {len(ann_b)} annotations identical"


def build(src: Path, out: Path) -> list[str]:
    """Write the subset into ``out``; the lines of SHA256SUMS."""
    known = mne_checksums()
    s001 = src / "eegmmidb" / SUBJECT
    written: list[Path] = []
    for run in sorted(set(ORIGINAL_RUNS) | set(SENSORIMOTOR_RUNS)):
        name = f"{SUBJECT}R{run:02d}.edf"
        path = s001 / name
        if not path.is_file():
            raise FileNotFoundError(f"src must hold eegmmidb/{SUBJECT}/{name}; {path} is missing")
        digest = sha256(path)
        want = known.get(f"{SUBJECT}/{name}")
        if want is not None and digest != want:
            raise ValueError(f"{path}: SHA-256 {digest} is not PhysioNet's {want} (mne/data/eegbci_checksums.txt)")
        print(f"source {path}: sha256 {digest} ({'matches MNE list' if want else 'no MNE list to check'})")
        if run in ORIGINAL_RUNS:
            dst = out / "eegmmidb" / SUBJECT / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst)
            written.append(dst)
        if run in SENSORIMOTOR_RUNS:
            dst = out / "eegmmidb" / f"{SUBJECT}-21ch" / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(subset_edf(path.read_bytes(), SENSORIMOTOR))
            print(f"  -> {dst.relative_to(out)}: {verify_subset(path, dst, SENSORIMOTOR)}")
            written.append(dst)
    return [f"{sha256(p)}  {p.relative_to(out).as_posix()}" for p in written]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data",
                    help="the full data set (default: ../shared/data beside the repository)")
    ap.add_argument("--check", action="store_true", help="verify tests/data without writing")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            sums = build(args.src, Path(tmp))
        have = (HERE / "SHA256SUMS").read_text().splitlines()
        ok = sums == have and all(sha256(HERE / line.split("  ", 1)[1]) == line.split("  ", 1)[0] for line in have)
        print("tests/data matches the sources" if ok else "tests/data differs from what make_subset.py writes")
        return 0 if ok else 1
    sums = build(args.src, HERE)
    (HERE / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    print("\n".join(sums))
    return 0


if __name__ == "__main__":
    sys.exit(main())
