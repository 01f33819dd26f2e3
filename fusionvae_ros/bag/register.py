"""register: estimate the homographies that bring cameras 1 and 2 onto camera 0, from a bag of the cameras.

FusionVAE fuses pixel-aligned views. Cameras looking at a plane (a table top, a shelf front) or at a distant scene
from nearby poses see it through a homography; this verb finds it. It pairs each camera's frames with camera 0's
by stamp, matches SIFT features (Lowe's ratio test) over up to --max-pairs pairs, fits one homography per camera
with RANSAC, prints the inlier reprojection error in camera-0 pixels and writes a parameter file for the node
(homography_1, homography_2), e.g. ``ros2 launch fusionvae_ros fuse.launch.py registration_file:=reg.yaml``.
A large error means the views do not share one viewpoint closely enough for a homography: move the cameras
closer together (or use one camera with occluders) rather than trusting the fused output.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusionvae_ros.bag.bag_files import BagError, InputBag, bag_cameras, stamp_to_ns

MAX_PIXELS = 2**31 - 1
RATIO = 0.75  # Lowe's ratio test
MIN_INLIERS = 12


@dataclass(frozen=True)
class CameraRegistration:
    """One camera's homography into camera 0 and how well it explains the matches."""

    camera: int
    topic: str
    homography: np.ndarray
    pairs: int
    matches: int
    inliers: int
    errors_px: np.ndarray  # reprojection error of every inlier, in camera-0 pixels

    def describe(self) -> str:
        """One line for the terminal."""
        mean, median, p95 = self.errors_px.mean(), np.median(self.errors_px), np.percentile(self.errors_px, 95)
        return (
            f"camera {self.camera} ({self.topic}): {self.inliers} inliers of {self.matches} matches from "
            f"{self.pairs} frame pairs; reprojection error mean {mean:.2f} px, median {median:.2f} px, "
            f"p95 {p95:.2f} px"
        )


def register(path: str, topics: list[str], transport: str, max_pairs: int, slop_s: float) -> list[CameraRegistration]:
    """Estimate the homography of every camera after the first onto camera 0 from the bag at ``path``."""
    if len(topics) < 2:
        raise BagError("register needs at least two camera topics (camera 0 is the reference)")
    frames = _read_frames(path, topics, transport)
    return [
        _estimate(camera, topics[camera], frames[0], frames[camera], max_pairs, round(slop_s * 1e9))
        for camera in range(1, len(topics))
    ]


def parameter_file(results: list[CameraRegistration], source: str) -> str:
    """The node parameter YAML with the estimated homographies (any node name or namespace)."""
    lines = [
        f"# fusionvae_bag register {source}: homographies from camera i's pixels to camera 0's (row-major 3x3)",
        *(f"# {result.describe()}" for result in results),
        "/**:",
        "  ros__parameters:",
    ]
    for result in results:
        values = ", ".join(_yaml_float(value) for value in result.homography.ravel())
        lines.append(f"    homography_{result.camera}: [{values}]")
    return "\n".join(lines) + "\n"


def _yaml_float(value: float) -> str:
    """A float YAML (and ROS's parameter parser) reads as a double: 9 significant digits, always with a point."""
    text = f"{value:.9g}"
    if "." in text or "n" in text:
        return text
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}.0" + (f"e{exponent}" if exponent else "")


def _read_frames(path: str, topics: list[str], transport: str) -> list[list[tuple[int, np.ndarray]]]:
    """Per camera, (stamp ns, grey uint8 image) of every decodable frame, in bag order."""
    from fusionvae_ros.camera_input import decode_view
    from fusionvae_ros.image_codec import ImageFormatError, to_model_channels

    frames: list[list[tuple[int, np.ndarray]]] = [[] for _ in topics]
    with InputBag(path) as bag:
        bag_topics = bag.require_cameras(topics, transport)
        for message in bag.messages(bag_topics):
            msg = bag.decode(message)
            try:
                decoded = decode_view(msg, transport, MAX_PIXELS, None)
            except ImageFormatError:
                continue
            grey = to_model_channels(decoded.pixels, decoded.encoding, 1)[..., 0]
            frames[bag_topics.index(message.topic)].append((stamp_to_ns(msg.header.stamp), grey))
    for topic, camera_frames in zip(bag_topics, frames):
        if not camera_frames:
            raise BagError(f"{path}: no decodable image on {topic}")
    return frames


def _estimate(
    camera: int,
    topic: str,
    reference: list[tuple[int, np.ndarray]],
    frames: list[tuple[int, np.ndarray]],
    max_pairs: int,
    slop_ns: int,
) -> CameraRegistration:
    """Match features of frame pairs (same stamp within slop) and fit camera -> camera 0 with RANSAC."""
    import cv2

    stamps = np.array([stamp for stamp, _ in reference])
    pairs = []
    for stamp, image in frames:
        nearest = int(np.abs(stamps - stamp).argmin())
        if abs(int(stamps[nearest]) - stamp) <= slop_ns:
            pairs.append((reference[nearest][1], image))
    if not pairs:
        raise BagError(f"camera {camera} ({topic}): no frame within the slop of a camera-0 frame")
    chosen = [pairs[i] for i in np.linspace(0, len(pairs) - 1, min(max_pairs, len(pairs))).round().astype(int)]
    sift, matcher = cv2.SIFT.create(), cv2.BFMatcher(cv2.NORM_L2)
    source, target = [], []
    for reference_image, image in chosen:
        keys_ref, desc_ref = sift.detectAndCompute(reference_image, None)
        keys, desc = sift.detectAndCompute(image, None)
        if desc is None or desc_ref is None or len(keys) < 2 or len(keys_ref) < 2:
            continue
        for best, second in (pair for pair in matcher.knnMatch(desc, desc_ref, k=2) if len(pair) == 2):
            if best.distance < RATIO * second.distance:
                source.append(keys[best.queryIdx].pt)
                target.append(keys_ref[best.trainIdx].pt)
    if len(source) < MIN_INLIERS:
        raise BagError(
            f"camera {camera} ({topic}): only {len(source)} feature matches with camera 0; the views must overlap "
            "and show texture"
        )
    src, dst = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, 3.0, maxIters=5000, confidence=0.999)
    inliers = mask.ravel().astype(bool) if mask is not None else np.zeros(len(src), bool)
    if homography is None or inliers.sum() < MIN_INLIERS:
        raise BagError(f"camera {camera} ({topic}): no homography explains the matches ({int(inliers.sum())} inliers)")
    projected = cv2.perspectiveTransform(src[inliers][np.newaxis], homography)[0]
    errors = np.linalg.norm(projected - dst[inliers], axis=1)
    return CameraRegistration(
        camera, topic, homography / homography[2, 2], len(chosen), len(src), int(inliers.sum()), errors
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of register."""
    parser.add_argument("bag", help="rosbag2 folder (or .mcap file) with the cameras viewing a textured scene")
    parser.add_argument("-o", "--output", required=True, help="parameter YAML to write (homography_1, homography_2)")
    parser.add_argument(
        "--camera-topics",
        nargs="+",
        help="camera (base) topics, camera 0 first (default: the bag's /camera_N/image_raw)",
    )
    parser.add_argument(
        "--input-transport",
        choices=("raw", "compressed"),
        help="raw Image or CompressedImage on <topic>/compressed (default: what the bag has)",
    )
    parser.add_argument("--max-pairs", type=int, default=20, help="frame pairs per camera to match features in")
    parser.add_argument("--slop", type=float, default=0.05, help="largest stamp difference (s) of a frame pair")


def run(args: argparse.Namespace) -> int:
    """Run register from parsed arguments."""
    from fusionvae_core.atomic_file import write_atomically

    if args.max_pairs < 1:
        raise BagError(f"--max-pairs must be >= 1, got {args.max_pairs}")
    with InputBag(args.bag) as bag:
        transport, found = bag_cameras(bag, args.input_transport)
    results = register(args.bag, args.camera_topics or found, transport, args.max_pairs, args.slop)
    for result in results:
        print(f"register: {result.describe()}")
    write_atomically(Path(args.output), parameter_file(results, args.bag).encode())
    print(f"register: wrote {args.output} (pass it as registration_file:= to fuse.launch.py)")
    return 0
