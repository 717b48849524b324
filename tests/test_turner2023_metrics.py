"""Simplicity-bias measures on the networks trained by Turner & Barak (NeurIPS 2023).

Ground truth: the authors' published table of unstable eigenvalues (mean over seeds) and their
shared-attractor counts, copied in shared/data/turner2023/README.md.
"""

import numpy as np
import pytest

from lowrank.metrics import shared_attractors, unstable_eigenvalue_count
from lowrank.turner2023 import data_dir, missing_data_message

DATA = data_dir()  # LOWRANK_DATA, else ../shared/data/turner2023 (README.md, Data)
pytestmark = pytest.mark.skipif(DATA is None, reason=missing_data_message())

# mean number of eigenvalues of weight_hh outside the unit circle, as printed in the README
PUBLISHED = {
    "gated": {2: "1.14", 3: "1.1", 4: "0.9", 5: "1.0", 6: "0.9"},
    "orthogonal": {2: "1.8", 3: "2.5", 4: "3.6", 5: "4.5", 6: "5.6"},
    "parallel": {2: "2", 3: "3", 4: "4", 5: "5", 6: "6"},
}
FILES = {
    "gated": "flipflop{b}bits_200_vanilla_100.npz",
    "orthogonal": "flipfloporthogonal_{b}bits_200_vanilla_100.npz",
    "parallel": "flipflopparallel_{b}bits_200_vanilla_100.npz",
}


def weights(mode, bits):
    data = np.load(DATA / FILES[mode].format(b=bits))
    return data["final.rnn.weight_hh_l0"].astype(np.float64), data["final.rnn.weight_ih_l0"].astype(
        np.float64
    )


@pytest.mark.parametrize("mode", list(PUBLISHED))
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
def test_unstable_eigenvalue_count_reproduces_the_published_table(mode, bits):
    """Tolerance: half a unit of the last printed digit (0.005 for 1.14, 0.05 for 1.1; integers
    printed without decimals are compared to 0.05)."""
    W_hh, _ = weights(mode, bits)
    mean = np.mean([unstable_eigenvalue_count(W, "discrete").count for W in W_hh])
    printed = PUBLISHED[mode][bits]
    decimals = len(printed.split(".")[1]) if "." in printed else 1
    assert mean == pytest.approx(float(printed), abs=0.5 * 10.0**-decimals + 1e-12)


def test_gated_two_bit_networks_share_their_two_end_states():
    W_hh, W_ih = weights("gated", 2)
    for W, W_in in zip(W_hh, W_ih, strict=True):
        result = shared_attractors((W, W_in), 2, time="discrete")
        assert result.settled.all()
        assert (result.n_end_states, result.n_shared) == (2, 2)


def test_orthogonal_two_bit_networks_reach_four_end_states():
    """The README reports 4; one seed in ten (i806) keeps a single unstable pair and reaches 2, so
    the test asks for 4 in at least 9 of the 10 seeds."""
    W_hh, W_ih = weights("orthogonal", 2)
    counts = [
        shared_attractors((W, W_in), 2, time="discrete").n_end_states
        for W, W_in in zip(W_hh, W_ih, strict=True)
    ]
    assert sum(c == 4 for c in counts) >= 9
    assert all(c in (2, 4) for c in counts)
