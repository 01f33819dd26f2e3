"""view_source temporal, live vs offline: one fixed camera's bag replayed into the fusion node (separate processes,
real DDS on a private domain, sim time) and fused offline by ``process --view-source temporal`` with the same
parameters and noise seed.

The bag holds sequences of 3 frames (the occluded views of one digit, as a fixed camera would see an occluder move)
at 6 Hz with a pause longer than the temporal window between them. Every fused set carries its newest frame's
stamp, lists its frames in fused/set_info (newest first, all of one sequence), and the live node forms the same
sets as process and fuses them to the same bytes: raw frames throttled by fusion_rate, and JPEG frames fused each
with a buffer of two.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest
from ros_helpers import fuse_live_and_offline

from fusionvae_core.data import build_dataset
from fusionvae_ros.bag.bag_files import CAMERA_TOPICS
from fusionvae_ros.bag.make_bag import CameraTiming, SequenceBagOptions, make_sequence_bag
from fusionvae_ros.bag.score import FusedOutput, load_ground_truth, load_outputs

pytestmark = pytest.mark.ros

NUM_HYPOTHESES = 2
SEED = 5
NUM_SEQUENCES = 6
FRAMES = 3
TIMING = CameraTiming(rate_hz=6.0, drop_prob=0.0)


@dataclass(frozen=True)
class Case:
    """A sequence bag and the temporal parameters both runs fuse it with."""

    bag: SequenceBagOptions
    parameters: dict[str, object] = field(default_factory=dict)


CASES = {
    "raw_throttled": Case(SequenceBagOptions(TIMING, seed=1), {"fusion_rate": 4.0}),
    "jpeg_two_frames": Case(
        SequenceBagOptions(TIMING, seed=2, compress="jpeg"),
        {"input_transport": "compressed", "fusion_rate": 0.0, "temporal_max_frames": 2},
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def runs(request, tmp_path_factory):
    """(case, input bag, live outputs, offline outputs) of one case; the node's log is in the case's folder."""
    case = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    digits = build_dataset("fusion_mnist", "test", None, seed=0)
    make_sequence_bag(folder / "input", [digits[index] for index in range(NUM_SEQUENCES)], case.bag)
    parameters = {"view_source": "temporal", "camera_topics": [CAMERA_TOPICS[0]], **case.parameters}
    live_bag, offline_bag = fuse_live_and_offline(folder / "input", folder, parameters, NUM_HYPOTHESES, SEED)
    return request.param, folder / "input", load_outputs(str(live_bag))[0], load_outputs(str(offline_bag))[0]


def frames_fused(output: FusedOutput) -> list[int]:
    """The stamps fused/set_info lists for an output."""
    assert output.set_info is not None
    return [int(stamp) for stamp in output.set_info["stamps"].split(",")]


def test_sets_are_the_newest_frame_with_earlier_frames_of_its_own_sequence(runs):
    name, input_bag, _, offline = runs
    sequence_of = {
        stamp: truth.info.dataset_index
        for truth in load_ground_truth(str(input_bag))
        for stamp in truth.info.view_stamps_ns.values()
    }
    ks = Counter()
    for stamp_ns, output in offline.items():
        stamps = frames_fused(output)
        assert stamps[0] == stamp_ns == max(stamps), "the outputs carry the newest fused frame's stamp"
        assert len({sequence_of[stamp] for stamp in stamps}) == 1, "the pause empties the buffer between sequences"
        assert output.set_info["k"] == str(len(stamps)) and output.set_info["cameras"] == ",".join("0" * len(stamps))
        ks[len(stamps)] += 1
    if name == "raw_throttled":  # 6 Hz frames on a 4 Hz grid: the first and the third frame of each sequence
        assert ks == {1: NUM_SEQUENCES, 3: NUM_SEQUENCES}
    else:  # every frame, with at most one earlier frame
        assert ks == {1: NUM_SEQUENCES, 2: NUM_SEQUENCES * (FRAMES - 1)}


def test_the_live_node_fuses_what_process_fuses_bit_for_bit(runs):
    _, _, live, offline = runs
    alike = [stamp for stamp in offline if stamp in live and live[stamp].set_info == offline[stamp].set_info]
    assert len(alike) >= 0.8 * len(offline), f"only {len(alike)} of {len(offline)} sets were formed alike"
    for stamp in alike:
        assert np.array_equal(np.stack(live[stamp].hypotheses), np.stack(offline[stamp].hypotheses)), stamp
        assert np.array_equal(live[stamp].mean, offline[stamp].mean)
        assert np.array_equal(live[stamp].uncertainty, offline[stamp].uncertainty)
    assert len(live[alike[-1]].hypotheses) == NUM_HYPOTHESES
