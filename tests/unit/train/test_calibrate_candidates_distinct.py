"""calibrate's candidates are distinct fits: on a cap whose every channel is on the 10-10 FC/C/CP rows (the 21
channels of tests/data's subset, an 8-channel motor cap), the channel candidates ``sensorimotor`` and ``all`` pick
the same channels, so only one of them is tried. Before, each config was fitted twice, and the average of
candidates calibrate ships held every member twice (16 members, 8 distinct, at twice the step cost)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bci_stream.train.classical.calibration import candidates
from bci_stream.train.classical.data import SENSORIMOTOR_10_10

FC_C_CP = list(SENSORIMOTOR_10_10)  # every channel sensorimotor
WITH_OTHERS = FC_C_CP + ["Fp1", "Fp2", "O1", "O2", "Oz", "Pz", "Fz"]


def _key(cfg) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in vars(cfg).items()))


@pytest.mark.parametrize("family", ["csp_lda", "riemann"])
def test_a_cap_of_only_sensorimotor_channels_tries_each_config_once(family: str) -> None:
    cands = candidates(SimpleNamespace(ch_names=FC_C_CP, sfreq=160.0), family, channels_fixed=False)
    assert len({_key(c) for c in cands}) == len(cands) == 4
    assert {c.channels for c in cands} == {"sensorimotor"}


@pytest.mark.parametrize("family", ["csp_lda", "riemann"])
def test_a_cap_with_other_channels_tries_sensorimotor_and_all(family: str) -> None:
    cands = candidates(SimpleNamespace(ch_names=WITH_OTHERS, sfreq=160.0), family, channels_fixed=False)
    assert len(cands) == 8 and {c.channels for c in cands} == {"sensorimotor", "all"}
