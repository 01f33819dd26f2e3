"""The arm demo's parts (``python -m fusionvae_ros.demo --scenes arm``): one fixed camera watching a robot arm move over
the table, fused by the node's temporal view source.

The bag holds fusion_tabletop_arm test sequences rendered at camera size (the xArm6, an arm no model trained on) one
after another on /camera_0/image_raw, with a pause longer than the temporal window between them (a new scene starts
with an empty buffer). The score compares each fused set with the clean render, per fused K, next to what a vision
engineer tries first on the same frames: the newest frame itself and the per-pixel median of the frames the node
fused. The picture shows, per row, the fused frames (newest first) | hypotheses | mean | uncertainty | target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusionvae_core.data.framing import center_square
from fusionvae_ros.bag.grid import GridRow
from fusionvae_ros.bag.make_bag import BagSummary, CameraTiming, SequenceBagOptions, ViewSets, make_sequence_bag
from fusionvae_ros.bag.score import FusedOutput, GroundTruthSet, fit_like, unit

RESIZE_MODE = "center_crop"  # the centre square of a render is the view the tabletop models were trained on
FRAME_LABELS = ["newest", "earlier", "earlier"]
TABLE_COLUMNS = ("MSE_min", "mean MSE", "newest frame", "frames' median")


def arm_sequences(count: int, width: int, height: int, frames: int, seed: int) -> ViewSets:
    """fusion_tabletop_arm test sequences at camera size (imported here: it pulls in torch and pybullet)."""
    from fusionvae_core.data.tabletop.camera import CameraSequences

    return CameraSequences("test", count, width, height, frames, seed)


def write_arm_bag(path: Path, sequences: ViewSets, rate_hz: float, seed: int) -> BagSummary:
    """The demo bag: ``sequences`` as one camera's frames at ``rate_hz`` (see the module doc)."""
    timing = CameraTiming(rate_hz=rate_hz, drop_prob=0.0)
    return make_sequence_bag(path, sequences, SequenceBagOptions(timing, seed=seed), overwrite=True)


@dataclass(frozen=True)
class FusedFrames:
    """One fused output, the frames it fused (camera images, newest first) and its sequence's target."""

    output: FusedOutput
    frames: list[np.ndarray]
    target: np.ndarray
    sequence: int


def fused_frames(sets: list[GroundTruthSet], outputs: dict[int, FusedOutput]) -> list[FusedFrames]:
    """Every output whose frames (fused/set_info's stamps) are in the input bag, in stamp order."""
    by_stamp = {stamp: truth for truth in sets for stamp in truth.info.view_stamps_ns.values()}
    found = []
    for stamp_ns, output in sorted(outputs.items()):
        stamps = [int(stamp) for stamp in (output.set_info or {}).get("stamps", "").split(",") if stamp]
        if stamp_ns in by_stamp and stamps and all(stamp in by_stamp for stamp in stamps):
            frames = [next(iter(by_stamp[stamp].views.values())) for stamp in stamps]
            truth = by_stamp[stamp_ns]
            found.append(FusedFrames(output, frames, truth.target, truth.info.dataset_index))
    return found


def errors(fused: FusedFrames) -> dict[str, float]:
    """MSE (pixels in [0, 1]) against the target, at the output's size and framing, of the best hypothesis, the
    mean, the newest frame and the per-pixel median of the fused frames."""
    like = fused.output.hypotheses[0]
    target = unit(fit_like(fused.target, like, RESIZE_MODE))
    frames = np.stack([unit(fit_like(frame, like, RESIZE_MODE)) for frame in fused.frames])

    def mse(image: np.ndarray) -> float:
        return float(np.mean((image - target) ** 2))

    mean = fused.output.mean
    return {
        "MSE_min": min(mse(unit(hypothesis)) for hypothesis in fused.output.hypotheses),
        "mean MSE": mse(unit(mean)) if mean is not None else float("nan"),
        "newest frame": mse(frames[0]),
        "frames' median": mse(np.median(frames, axis=0)),
    }


def scores_by_k(found: list[FusedFrames]) -> dict[str, dict[str, float]]:
    """Mean errors (``errors``) and the number of sets per fused K and over all sets."""
    rows = [(len(fused.frames), errors(fused)) for fused in found]
    groups = {str(k): [row for kk, row in rows if kk == k] for k in sorted({k for k, _ in rows})}
    groups["all"] = [row for _, row in rows]
    return {
        k: {"sets": len(group), **{name: float(np.mean([row[name] for row in group])) for name in TABLE_COLUMNS}}
        for k, group in groups.items()
        if group
    }


def scores_table(scores: dict[str, dict[str, float]]) -> str:
    """The per-K scores as an aligned table."""
    lines = [f"{'K':>4} {'sets':>5} " + " ".join(f"{name:>14}" for name in TABLE_COLUMNS)]
    for k, row in scores.items():
        lines.append(f"{k:>4} {row['sets']:>5.0f} " + " ".join(f"{row[name]:>14.4f}" for name in TABLE_COLUMNS))
    lines.append(
        "(MSE against the arm-free render, pixels in [0, 1], in the node's centre square at the model's size; "
        "newest frame / frames' median: the camera's newest frame and the per-pixel median of the frames the node "
        "fused, as references)"
    )
    return "\n".join(lines)


def picture_rows(found: list[FusedFrames], count: int) -> list[GridRow]:
    """The last fused set of each of the first ``count`` sequences (its centre squares, as the model sees them)."""
    last = {fused.sequence: fused for fused in found}
    return [
        GridRow(
            f"K={len(fused.frames)}",
            [center_square(frame) for frame in fused.frames],
            fused.output,
            center_square(fused.target),
        )
        for _, fused in sorted(last.items())[:count]
    ]
