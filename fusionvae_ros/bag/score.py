"""score: compare a bag of fused outputs (from process or a live recording) with the input bag's ground truth.

Every fused output (all /fused/* messages sharing one header stamp) is matched to the input set whose view
stamps (from /fusionvae/set_info) contain that stamp - the node stamps a set with its newest view - or, failing
that, the set with the nearest view or ground-truth stamp within ``--tolerance-ms``. Per K it reports MSE_min
(the best hypothesis's mean squared error against the target, pixels in [0, 1], the paper's metric), the error
of the mean image, and the error of an all-black image as a reference; sets without output, outputs without
set and sets fused more than once are listed. Latency is the time from the arrival of a set's newest view
(when the camera topics were recorded too) or else from its header stamp, to the arrival of its last output.
"""

from __future__ import annotations

import argparse
import bisect
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fusionvae_core.data.framing import FIXED_MODES, center_square
from fusionvae_ros.bag.bag_files import (
    CAMERA_TYPES,
    FUSED_SET_INFO_TOPIC,
    GROUND_TRUTH_TOPIC,
    HYPOTHESES_TOPIC,
    IMAGE_TYPE,
    MEAN_TOPIC,
    SET_INFO_TOPIC,
    STRING_TYPE,
    UNCERTAINTY_TOPIC,
    BagError,
    InputBag,
    stamp_to_ns,
)
from fusionvae_ros.bag.process import CUSTOM_DATA_KEY as PROCESS_CUSTOM_DATA_KEY
from fusionvae_ros.bag.set_info import SetInfo

MAX_PIXELS = 2**31 - 1
LATENCY_PERCENTILES = (50, 90, 99)
OFFLINE_TIMING = "offline process: bag-time wait for partner views only, no inference or DDS; not a live latency"


@dataclass
class GroundTruthSet:
    """One input set: its set info, clean target (uint8 [H, W, C]) and camera views by topic (when loaded)."""

    info: SetInfo
    target: np.ndarray
    views: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class FusedOutput:
    """Everything published for one fused set (one header stamp), and when its last message arrived."""

    stamp_ns: int
    hypotheses: list[np.ndarray] = field(default_factory=list)
    mean: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    set_info: dict[str, str] | None = None  # the set's record from fused/set_info (bags that hold it)
    arrival_ns: int = 0


@dataclass(frozen=True)
class SetScore:
    """Errors of one matched set (mean_mse is None when no mean image was published) and its latency."""

    set_id: int
    k: int
    mse_min: float
    mean_mse: float | None
    black_mse: float
    latency_ms: float | None


@dataclass
class ScoreReport:
    """Per-K and overall errors, bookkeeping of unmatched data, and latency percentiles."""

    per_k: dict[str, dict[str, float | int | None]]
    missing_set_ids: list[int]
    unmatched_stamps_ns: list[int]
    duplicate_set_ids: list[int]
    latency_reference: str
    latency_ms: dict[str, float] | None

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(asdict(self), indent=2)

    def to_text(self) -> str:
        """The report as an aligned table plus a few lines."""
        lines = [f"{'K':>4} {'sets':>5} {'fused':>5} {'missing':>7} {'MSE_min':>9} {'mean MSE':>9} {'black MSE':>9}"]
        for k, row in self.per_k.items():
            lines.append(
                f"{k:>4} {row['sets']:>5} {row['fused']:>5} {row['missing']:>7} {_fmt(row['mse_min']):>9} "
                f"{_fmt(row['mean_mse']):>9} {_fmt(row['black_mse']):>9}"
            )
        lines.append("(MSE of pixels in [0, 1]; MSE_min = best of the hypotheses; black MSE = an all-black image)")
        lines.append(f"missing sets (no output): {_ids(self.missing_set_ids)}")
        lines.append(f"outputs matching no set: {len(self.unmatched_stamps_ns)}")
        lines.append(f"sets fused more than once: {_ids(self.duplicate_set_ids)}")
        if self.latency_ms:
            stats = "  ".join(f"{name} {value:.1f} ms" for name, value in self.latency_ms.items())
            label = "timing" if self.latency_reference == OFFLINE_TIMING else "latency"
            lines.append(f"{label} ({self.latency_reference}): {stats}")
        return "\n".join(lines)


def load_ground_truth(path: str, with_views: bool = False) -> list[GroundTruthSet]:
    """The sets of an input bag from make-bag (set info + ground truth, and the camera views if asked)."""
    with InputBag(path) as bag:
        bag.require([SET_INFO_TOPIC], STRING_TYPE, "score needs the set records that make-bag writes")
        bag.require([GROUND_TRUTH_TOPIC], IMAGE_TYPE, "score needs the ground truth that make-bag writes")
        infos: list[SetInfo] = []
        targets: dict[int, np.ndarray] = {}
        views: dict[tuple[str, int], np.ndarray] = {}
        camera_topics = [t for t, kind in bag.topics.items() if kind in CAMERA_TYPES and t != GROUND_TRUTH_TOPIC]
        wanted = [SET_INFO_TOPIC, GROUND_TRUTH_TOPIC, *(camera_topics if with_views else [])]
        for message in bag.messages(wanted):
            msg = bag.decode(message)
            if message.topic == SET_INFO_TOPIC:
                try:
                    infos.append(SetInfo.from_json(msg.data))
                except ValueError as error:
                    raise BagError(f"{path}: bad message on {SET_INFO_TOPIC}: {error}") from None
            else:
                pixels = _pixels(msg, message.topic, path)
                if message.topic == GROUND_TRUTH_TOPIC:
                    targets[stamp_to_ns(msg.header.stamp)] = pixels
                else:
                    views[message.topic, stamp_to_ns(msg.header.stamp)] = pixels
    sets = []
    for info in infos:
        if info.stamp_ns not in targets:
            raise BagError(f"{path}: set {info.set_id} has no {GROUND_TRUTH_TOPIC} message stamped {info.stamp_ns}")
        set_views = {
            topic: views[topic, stamp] for topic, stamp in info.view_stamps_ns.items() if (topic, stamp) in views
        }
        sets.append(GroundTruthSet(info, targets[info.stamp_ns], set_views))
    return sets


def load_outputs(path: str) -> tuple[dict[int, FusedOutput], dict[tuple[str, int], int]]:
    """Fused outputs by stamp, and the arrival time of every recorded camera message by (topic, stamp)."""
    outputs: dict[int, FusedOutput] = {}
    camera_arrivals: dict[tuple[str, int], int] = {}
    with InputBag(path) as bag:
        bag.require([HYPOTHESES_TOPIC], IMAGE_TYPE, "score reads the fused outputs that process or record write")
        fused = {FUSED_SET_INFO_TOPIC, HYPOTHESES_TOPIC, MEAN_TOPIC, UNCERTAINTY_TOPIC}
        cameras = [t for t, kind in bag.topics.items() if kind in CAMERA_TYPES and t.startswith("/camera")]
        for message in bag.messages([*fused, *cameras]):
            msg = bag.decode(message)
            stamp_ns = stamp_to_ns(msg.header.stamp)
            if message.topic not in fused:
                camera_arrivals[message.topic, stamp_ns] = message.log_time_ns
                continue
            output = outputs.setdefault(stamp_ns, FusedOutput(stamp_ns))
            output.arrival_ns = max(output.arrival_ns, message.log_time_ns)
            if message.topic == HYPOTHESES_TOPIC:
                output.hypotheses.append(_pixels(msg, message.topic, path))
            elif message.topic == MEAN_TOPIC:
                output.mean = _pixels(msg, message.topic, path)
            elif message.topic == UNCERTAINTY_TOPIC:
                output.uncertainty = _float_pixels(msg, path)
            else:
                output.set_info = {item.key: item.value for status in msg.status for item in status.values}
    return outputs, camera_arrivals


@dataclass
class Matching:
    """Which output belongs to which input set (first output per set), and what matched nothing."""

    pairs: list[tuple[GroundTruthSet, FusedOutput]]
    missing: list[GroundTruthSet]
    unmatched: list[FusedOutput]
    duplicates: list[GroundTruthSet]


def match_outputs(sets: list[GroundTruthSet], outputs: dict[int, FusedOutput], tolerance_ns: int) -> Matching:
    """Match every output to the set with an equal (else nearest, within tolerance) view or ground-truth stamp."""
    anchors = sorted(
        (stamp, index)
        for index, gt in enumerate(sets)
        for stamp in (gt.info.stamp_ns, *gt.info.view_stamps_ns.values())
    )
    anchor_stamps = [stamp for stamp, _ in anchors]
    matched: dict[int, list[FusedOutput]] = {}
    unmatched = []
    for stamp_ns in sorted(outputs):
        position = bisect.bisect_left(anchor_stamps, stamp_ns)
        nearby = [anchors[i] for i in (position - 1, position) if 0 <= i < len(anchors)]
        best = min(nearby, key=lambda anchor: abs(anchor[0] - stamp_ns), default=None)
        if best is None or abs(best[0] - stamp_ns) > tolerance_ns:
            unmatched.append(outputs[stamp_ns])
        else:
            matched.setdefault(best[1], []).append(outputs[stamp_ns])
    return Matching(
        pairs=[(sets[index], found[0]) for index, found in sorted(matched.items())],
        missing=[gt for index, gt in enumerate(sets) if index not in matched],
        unmatched=unmatched,
        duplicates=[sets[index] for index, found in sorted(matched.items()) if len(found) > 1],
    )


def score_set(
    gt: GroundTruthSet, output: FusedOutput, camera_arrivals: dict[tuple[str, int], int], resize_mode: str
) -> SetScore:
    """Errors of one output against its target (brought to the output size as the node brings views)."""
    if not output.hypotheses:
        raise BagError(f"output stamped {output.stamp_ns} has {MEAN_TOPIC} but no {HYPOTHESES_TOPIC} messages")
    target = unit(fit_like(gt.target, output.hypotheses[0], resize_mode))
    errors = [float(np.mean((unit(hypothesis) - target) ** 2)) for hypothesis in output.hypotheses]
    mean_mse = None if output.mean is None else float(np.mean((unit(output.mean) - target) ** 2))
    arrivals = [camera_arrivals.get(view) for view in gt.info.view_stamps_ns.items()]
    known = [arrival for arrival in arrivals if arrival is not None]
    reference_ns = max(known) if known else output.stamp_ns
    latency_ms = (output.arrival_ns - reference_ns) / 1e6 if output.arrival_ns else None
    return SetScore(gt.info.set_id, gt.info.k, min(errors), mean_mse, float(np.mean(target**2)), latency_ms)


def score_bags(
    output_path: str, input_path: str, tolerance_ms: float = 1.0, resize_mode: str = "resize"
) -> ScoreReport:
    """Score the outputs in ``output_path`` against the ground truth of ``input_path``."""
    sets = load_ground_truth(input_path)
    outputs, camera_arrivals = load_outputs(output_path)
    with InputBag(output_path) as bag:
        offline = PROCESS_CUSTOM_DATA_KEY in bag.custom_data
    matching = match_outputs(sets, outputs, round(tolerance_ms * 1e6))
    return build_report(sets, matching, camera_arrivals, resize_mode, offline)


def build_report(
    sets: list[GroundTruthSet],
    matching: Matching,
    camera_arrivals: dict[tuple[str, int], int],
    resize_mode: str,
    offline: bool = False,
) -> ScoreReport:
    """Per-K errors, bookkeeping and latency of a matching of outputs to input sets.

    ``offline``: the outputs come from ``process``, whose log times are the synchroniser's emission times in bag
    time (waits for partners only, no inference, no DDS), so the "latency" is labelled as offline timing.
    """
    scores = [score_set(gt, output, camera_arrivals, resize_mode) for gt, output in matching.pairs]
    per_k = {}
    for k in sorted({gt.info.k for gt in sets}):
        rows = [score for score in scores if score.k == k]
        per_k[str(k)] = _summary(rows, sum(gt.info.k == k for gt in sets))
    per_k["all"] = _summary(scores, len(sets))
    latencies = [score.latency_ms for score in scores if score.latency_ms is not None]
    return ScoreReport(
        per_k=per_k,
        missing_set_ids=[gt.info.set_id for gt in matching.missing],
        unmatched_stamps_ns=[output.stamp_ns for output in matching.unmatched],
        duplicate_set_ids=[gt.info.set_id for gt in matching.duplicates],
        latency_reference=OFFLINE_TIMING
        if offline
        else "from newest view's arrival"
        if camera_arrivals
        else "log time minus header stamp",
        latency_ms=_percentiles(latencies),
    )


def _summary(rows: list[SetScore], num_sets: int) -> dict[str, float | int | None]:
    """Counts and mean errors of some matched sets."""
    means = [row.mean_mse for row in rows if row.mean_mse is not None]
    return {
        "sets": num_sets,
        "fused": len(rows),
        "missing": num_sets - len(rows),
        "mse_min": float(np.mean([row.mse_min for row in rows])) if rows else None,
        "mean_mse": float(np.mean(means)) if means else None,
        "black_mse": float(np.mean([row.black_mse for row in rows])) if rows else None,
    }


def _percentiles(latencies: list[float]) -> dict[str, float] | None:
    """p50/p90/p99/max of latencies in ms (None without any)."""
    if not latencies:
        return None
    values = {f"p{p}": float(np.percentile(latencies, p)) for p in LATENCY_PERCENTILES}
    values["max"] = float(np.max(latencies))
    return values


def _pixels(msg: Any, topic: str, path: str) -> np.ndarray:
    """uint8 [H, W, C] pixels of an 8-bit Image message (RGB/grey for a CompressedImage); BagError otherwise."""
    from fusionvae_ros.image_codec import ImageFormatError, decode_compressed, decode_image, to_model_channels

    try:
        if hasattr(msg, "format"):  # CompressedImage camera view: decoded to RGB (grey stays grey)
            pixels, encoding = decode_compressed(msg, MAX_PIXELS)
            return to_model_channels(pixels, encoding, 1 if pixels.shape[2] == 1 else 3)
        pixels = decode_image(msg, MAX_PIXELS)
    except ImageFormatError as error:
        raise BagError(f"{path}: unusable image on {topic}: {error}") from None
    if pixels.dtype != np.uint8:
        raise BagError(f"{path}: {topic} has {msg.encoding} images; score compares 8-bit images")
    return pixels


def _float_pixels(msg: Any, path: str) -> np.ndarray:
    """float32 [H, W] pixels of a 32FC1 Image (the node's uncertainty)."""
    if msg.encoding != "32FC1" or msg.step < 4 * msg.width or len(msg.data) != msg.step * msg.height:
        raise BagError(f"{path}: {UNCERTAINTY_TOPIC} message is not a valid 32FC1 image ({msg.encoding})")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)[:, : 4 * msg.width]
    return rows.copy().view(">f4" if msg.is_bigendian else "<f4").astype(np.float32)


def fit_like(target: np.ndarray, like: np.ndarray, resize_mode: str) -> np.ndarray:
    """``target`` converted to the channels and size of ``like`` with the node's own preprocessing (the model's
    square, or the camera's geometry for output_size camera: the same field of view at another size)."""
    import cv2

    from fusionvae_ros.image_codec import to_model_channels

    height, width, channels = like.shape
    encoding = "mono8" if target.shape[2] == 1 else "rgb8"
    pixels = to_model_channels(target, encoding, channels)
    if resize_mode == "center_crop":
        pixels = center_square(pixels)
    resized = cv2.resize(np.ascontiguousarray(pixels), (width, height), interpolation=cv2.INTER_AREA)
    return resized.reshape(height, width, channels)


def unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as float64 in [0, 1]."""
    return pixels.astype(np.float64) / 255.0


def _fmt(value: float | int | None) -> str:
    """A table cell: 4 decimals, '-' for none."""
    return "-" if value is None else f"{value:.4f}"


def _ids(ids: list[int], shown: int = 20) -> str:
    """A count and the first few ids."""
    if not ids:
        return "0"
    more = f", ... (+{len(ids) - shown})" if len(ids) > shown else ""
    return f"{len(ids)} (set {', '.join(map(str, ids[:shown]))}{more})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of score."""
    parser.add_argument("output", help="bag with the /fused/* topics (written by process or record)")
    parser.add_argument("--input", required=True, help="the input bag made by make-bag (ground truth and set records)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument(
        "--tolerance-ms",
        type=float,
        default=1.0,
        help="an output whose stamp equals no view stamp still matches a set this close (ms)",
    )
    parser.add_argument(
        "--resize-mode",
        default="resize",
        choices=FIXED_MODES,
        help="how the node fitted views to the model (the targets are fitted the same way)",
    )


def run(args: argparse.Namespace) -> int:
    """Run score from parsed arguments."""
    report = score_bags(args.output, args.input, args.tolerance_ms, args.resize_mode)
    print(report.to_json() if args.json else report.to_text())
    return 0
