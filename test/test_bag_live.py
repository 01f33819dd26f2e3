"""Live node vs offline ``process`` on the same bag: replay -> fusion node -> record as separate processes on a
private ROS domain (real DDS on loopback), and ``process`` with the same parameters and noise seed.

At 2 view sets per second (within what the test model sustains even with both cores busy elsewhere: at 10 Hz a
loaded machine made the node drop sets under its latest-wins policy) every set of the bag must come back fused,
each output with all its hypotheses. Node and process are adapters over one FusionPipeline, so every set they
formed alike has identical hypotheses, mean, uncertainty and fused/set_info: for raw cameras, JPEG cameras with
registration homographies, camera-sized outputs, and camera-sized outputs composited by a model with a visibility
head (recommending compositing); make-bag drops views, so each bag also holds partial sets.
(On a busy machine a view can reach the node after max_wait, so live splits that set in two; such sets are
reported by score and left out of the comparison.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import fuse_live_and_offline, node_test_model
from visibility_helpers import trained_visibility_model

from fusionvae_ros.bag.bag_files import CAMERA_TOPICS
from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag
from fusionvae_ros.bag.score import load_ground_truth, load_outputs, match_outputs, score_bags

pytestmark = pytest.mark.ros

NUM_HYPOTHESES = 3
SEED = 11
TIMING = CameraTiming(rate_hz=2.0)


@dataclass(frozen=True)
class Case:
    """A bag, the node parameters both runs fuse it with and whether the model is one with a learnt visibility head
    (then composited: the cameras' pixels where they show the scene)."""

    bag: MakeBagOptions
    parameters: dict[str, object] = field(default_factory=dict)
    compositing: bool = False

    def model_path(self) -> Path:
        """The model both runs load."""
        return trained_visibility_model().onnx if self.compositing else node_test_model().path


SHIFT = [1.0, 0.01, 2.5, -0.01, 1.0, -1.5, 0.0, 0.0, 1.0]  # camera pixels: a small rotation and shift
CASES = {
    "raw": Case(MakeBagOptions(num_sets=20, seed=2, timing=TIMING)),
    "jpeg_registered": Case(
        MakeBagOptions(num_sets=10, seed=3, width=96, height=72, timing=TIMING, compress="jpeg"),
        {"input_transport": "compressed", "homography_1": SHIFT, "homography_2": SHIFT},
    ),
    "camera_size": Case(
        MakeBagOptions(num_sets=10, seed=4, width=64, height=48, timing=TIMING),
        {"output_size": "camera", "resize_mode": "center_crop"},
    ),
    "composited_camera_size": Case(
        MakeBagOptions(num_sets=8, seed=5, width=96, height=72, timing=TIMING, compress="jpeg"),
        {"input_transport": "compressed", "output_size": "camera", "resize_mode": "center_crop"},
        compositing=True,
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def runs(request, tmp_path_factory):
    """(case, input bag, live bag, offline bag) of one case; the node's log is in the live bag's folder."""
    case = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    make_bag(folder / "input", case.bag)
    parameters = {"camera_topics": list(CAMERA_TOPICS), "model_path": str(case.model_path()), **case.parameters}
    live_bag, offline_bag = fuse_live_and_offline(folder / "input", folder, parameters, NUM_HYPOTHESES, SEED)
    return case, folder / "input", live_bag, offline_bag


def test_replayed_bag_loses_no_set(runs):
    case, input_bag, live_bag, _ = runs
    outputs, camera_arrivals = load_outputs(str(live_bag))
    resize_mode = str(case.parameters.get("resize_mode", "resize"))
    report = score_bags(str(live_bag), str(input_bag), resize_mode=resize_mode)
    assert report.missing_set_ids == [], (live_bag.parent / "node.log").read_text()[-3000:]
    assert report.unmatched_stamps_ns == [], "every output is stamped with a view stamp of some set"
    assert report.per_k["all"]["fused"] == case.bag.num_sets
    assert len(report.per_k) > 2, "partial sets too (make-bag drops views)"
    assert Counter(len(output.hypotheses) for output in outputs.values()) == {NUM_HYPOTHESES: len(outputs)}
    assert all(output.mean is not None and output.uncertainty is not None for output in outputs.values())
    assert camera_arrivals, "the recorder also stores the camera views (latency reference)"
    assert report.latency_ms is not None and report.latency_ms["p50"] > 0


def test_process_reproduces_the_live_outputs_for_the_same_seed(runs):
    """Sets the live node formed like process did (fused once, not split by a late view) match exactly."""
    case, input_bag, live_bag, offline_bag = runs
    sets = load_ground_truth(str(input_bag))
    live_outputs, _ = load_outputs(str(live_bag))
    offline_outputs, _ = load_outputs(str(offline_bag))
    offline = {truth.info.set_id: output for truth, output in match_outputs(sets, offline_outputs, 0).pairs}
    assert sorted(offline) == list(range(case.bag.num_sets)), "process fuses every set once"
    live_matching = match_outputs(sets, live_outputs, 0)
    split = {truth.info.set_id for truth in live_matching.duplicates}
    compared = 0
    for truth, live in live_matching.pairs:
        if truth.info.set_id in split:
            continue
        offline_output = offline[truth.info.set_id]
        assert offline_output.stamp_ns == live.stamp_ns
        assert np.array_equal(np.stack(offline_output.hypotheses), np.stack(live.hypotheses)), (
            f"set {truth.info.set_id}: offline hypotheses differ from the live ones for the same seed"
        )
        assert np.array_equal(offline_output.mean, live.mean)
        assert np.array_equal(offline_output.uncertainty, live.uncertainty)
        cameras = [topic.split("/")[1].removeprefix("camera_") for topic in sorted(truth.info.view_stamps_ns)]
        assert (
            offline_output.set_info
            == live.set_info
            == {
                "num_hypotheses": str(NUM_HYPOTHESES),
                "k": str(truth.info.k),
                "cameras": ",".join(cameras),
                "stamps": ",".join(str(stamp) for _, stamp in sorted(truth.info.view_stamps_ns.items())),
                "compositing": str(case.compositing).lower(),
            }
        )
        compared += 1
    assert compared >= 0.8 * case.bag.num_sets, f"only {compared} of {case.bag.num_sets} sets were formed alike"
    if case.parameters.get("output_size") == "camera":
        side = min(case.bag.width, case.bag.height)
        assert {output.mean.shape[:2] for output in offline.values()} == {(side, side)}, "the camera's centre square"
