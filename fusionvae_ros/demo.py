"""The end-to-end demo behind ``make demo``: demo bag -> live fusion node -> recorded outputs -> score + picture.

Steps: make-bag writes a bag of occluded MNIST digits from the embedded data; the fusion node (shipped model,
sim time) and a recorder start as subprocesses on a private ROS domain restricted to this machine; the bag is
replayed into the node; the recorder stores the fused outputs (and the camera views, for latency); then the
score is printed and a PNG grid (views | hypotheses | mean | uncertainty | target) is written. Everything lands
in ``--output-dir`` (default demo_output/).

``--model tabletop`` runs the same loop in colour with the FusionTabletop model (models/fusion_tabletop): the bag
holds rendered test scenes at camera size (640x480 by default, ``--scenes tabletop`` with any RGB 64x64 model)
and the node centre-crops and resizes them to the model's size.

``--scenes arm`` is the one-camera case: a fixed 640x480 camera watching a robot arm move over the table
(fusion_tabletop_arm test sequences, demo_arm.py), fused by the node with ``view_source: temporal`` (the FusionTabletop
model unless ``--model`` names another RGB 64x64 one), scored per fused K against the clean renders next to the
newest frame and the median of the fused frames, and drawn as fused frames | hypotheses | mean | uncertainty | target.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fusionvae_core.data.errors import DatasetError
from fusionvae_ros import demo_arm
from fusionvae_ros.bag.bag_files import CAMERA_TOPICS, FUSED_TOPICS, SET_INFO_TOPIC, BagError, InputBag, bag_cameras
from fusionvae_ros.bag.grid import CELL as GRID_CELL
from fusionvae_ros.bag.grid import camera_rows, write_grid
from fusionvae_ros.bag.help_format import DefaultsHelpFormatter
from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, ViewSets, make_bag
from fusionvae_ros.bag.score import build_report, load_ground_truth, load_outputs, match_outputs
from fusionvae_ros.camera_input import transport_topic
from fusionvae_ros.package_files import DDS_PROFILE_VARIABLE, LARGE_IMAGE_DDS_PROFILE, resolve_model_path, shipped_file

STARTUP_TIMEOUT_S = 60.0
SETTLE_S = 20.0  # after the replay, how long the recorder may take to see the last sets (a loaded machine lags)
ROWS_PER_K = 2
SCORE_FILE, GRID_FILE = "score.json", "demo_grid.png"
CAMERA_CELL = 200  # tile size of the camera-resolution tabletop picture: detail a camera delivered stays visible
EXIT_FAILED = 1
EXIT_USAGE = 2  # bad arguments or model file: the same status as the other tools give a usage error
MAX_DOMAIN_ID = 232  # the largest ROS_DOMAIN_ID rmw accepts
TABLETOP = "tabletop"  # --model value selecting the FusionTabletop demo
TABLETOP_MODEL = Path("models") / "fusion_tabletop" / "model.onnx"
TABLETOP_CAMERA_SIZE = (640, 480)
ARM = "arm"  # --scenes value selecting the one-camera arm demo
ARM_DEFAULTS = {"num_sets": 6, "rate": 10.0}  # sequences (8 frames each) and frames per second
CAMERA_DEFAULTS = {"num_sets": 40, "rate": 10.0}  # view sets and sets per second
ARM_PICTURE_ROWS = 4


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


@contextmanager
def child(command: list[str], log_path: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess whose output goes to ``log_path``; interrupted (then killed) if still running at exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGINT ``process`` (like Ctrl-C, so it shuts down cleanly); kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    watched: dict[str, tuple[subprocess.Popen[bytes], Path]],
) -> None:
    """Poll ``condition``; DemoError if it times out or a watched process (name -> (process, log)) exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        for name, (process, log_path) in watched.items():
            if process.poll() is not None:
                raise DemoError(f"{name} exited with {process.returncode} waiting for {what}:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def ros_environment(domain_id: int, publishes_images: bool = False) -> dict[str, str]:
    """Environment of the demo's ROS processes: a private domain and discovery on this machine only. A process that
    ``publishes_images`` also gets the package's Fast DDS profile for camera-sized images, unless
    FASTDDS_DEFAULT_PROFILES_FILE is set (empty: no profile)."""
    repo = str(Path(__file__).resolve().parents[1])
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    profile = str(shipped_file(LARGE_IMAGE_DDS_PROFILE)) if publishes_images else ""
    environment = {
        DDS_PROFILE_VARIABLE: profile,
        **os.environ,
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONPATH": os.pathsep.join([*python_path, repo] if repo not in python_path else python_path),
        "PYTHONUNBUFFERED": "1",
    }
    if not environment[DDS_PROFILE_VARIABLE]:
        del environment[DDS_PROFILE_VARIABLE]  # Fast DDS logs an error for an empty path
    return environment


def node_command(
    model: Path,
    num_hypotheses: int,
    seed: int,
    resize_mode: str,
    camera_topics: list[str],
    parameters: dict[str, str] | None = None,
) -> list[str]:
    """The fusion node on the demo's ``camera_topics``, with sim time (the replayed /clock), a reproducible seed and
    further ``parameters`` (name -> value as --ros-args text)."""
    parameters = {
        "resize_mode": resize_mode,
        "camera_topics": "[" + ",".join(camera_topics) + "]",
        "model_path": str(model),
        "num_hypotheses": str(num_hypotheses),
        "seed": str(seed),
        "use_sim_time": "true",
        "input_reliability": "reliable",
        "inference_queue_size": "10",
        **(parameters or {}),
    }
    ros_args = [item for name, value in parameters.items() for item in ("-p", f"{name}:={value}")]
    return [sys.executable, "-m", "fusionvae_ros.fusion_node", "--ros-args", *ros_args]


def fuse_live(
    input_bag: Path,
    fused_bag: Path,
    model: Path,
    num_hypotheses: int,
    seed: int,
    domain_id: int,
    log_dir: Path,
    resize_mode: str = "resize",
    parameters: dict[str, str] | None = None,
    expect_sets: int | None = None,
) -> None:
    """Replay ``input_bag`` into a live fusion node (further node ``parameters`` as --ros-args text) and record its
    outputs (and the camera views) to ``fused_bag``. Raw or compressed cameras, as many as the bag holds.

    The node and the recorder run as subprocesses (logs: node.log, record.log in ``log_dir``); the recorder stops
    once ``expect_sets`` sets were fused (default: every set of the bag), or a few seconds after the replay ended.
    """
    with InputBag(input_bag) as bag:
        num_sets, duration_s = bag.counts.get(SET_INFO_TOPIC, 0), bag.duration_ns / 1e9
        transport, cameras = bag_cameras(bag, None)
    camera_topics = [transport_topic(topic, transport) for topic in cameras]
    # camera-sized outputs are large images: node and recorder get the shared-memory DDS profile for them
    env = ros_environment(domain_id, publishes_images=(parameters or {}).get("output_size") == "camera")
    bag_cli = [sys.executable, "-m", "fusionvae_ros.bag"]
    node_log, record_log = log_dir / "node.log", log_dir / "record.log"
    record_command = [*bag_cli, "record", "-o", str(fused_bag), "--overwrite", "--topics", *FUSED_TOPICS]
    record_command += [*camera_topics, "--expect-sets", str(expect_sets or num_sets)]
    with ExitStack() as stack:
        parameters = {"input_transport": transport, **(parameters or {})}
        node_cli = node_command(model, num_hypotheses, seed, resize_mode, cameras, parameters)
        node = stack.enter_context(child(node_cli, node_log, env))
        recorder = stack.enter_context(child(record_command, record_log, env))
        wait_for(
            lambda: all(f"subscribed to {topic} " in record_log.read_text() for topic in FUSED_TOPICS),
            STARTUP_TIMEOUT_S,
            "fusion_node to come up (its outputs to appear)",
            {"fusion_node": (node, node_log), "recorder": (recorder, record_log)},
        )
        replay = subprocess.run(
            [*bag_cli, "replay", str(input_bag), "--topics", *camera_topics, "--wait-for-subscribers", "2"],
            env=ros_environment(domain_id, publishes_images=True),
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT_S + 2 * duration_s,
        )
        if replay.returncode != 0:
            raise DemoError(f"replay failed: {replay.stderr.strip() or replay.stdout.strip()}")
        try:
            recorder.wait(SETTLE_S)
        except subprocess.TimeoutExpired:
            stop(recorder)
        if recorder.returncode != 0:
            raise DemoError(f"recorder exited with {recorder.returncode}:\n{_tail(record_log)}")


def run_demo(model: Path, args: argparse.Namespace) -> None:
    """All demo steps (module docstring); raises DemoError or BagError on failure."""
    started = time.monotonic()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    input_bag, fused_bag = out / "input_bag", out / "fused_bag"
    for previous in (out / SCORE_FILE, out / GRID_FILE):  # an earlier run's results must not pass for this run's
        previous.unlink(missing_ok=True)
    if args.scenes == ARM:
        run_arm_demo(model, args, out, input_bag, fused_bag)
        print(f"demo: done in {time.monotonic() - started:.1f} s (bags, logs and picture in {out}/)", flush=True)
        return
    timing = CameraTiming(rate_hz=args.rate)
    if args.scenes == TABLETOP:
        width, height = args.width or TABLETOP_CAMERA_SIZE[0], args.height or TABLETOP_CAMERA_SIZE[1]
        print(f"demo: rendering {args.num_sets} FusionTabletop test scenes at {width}x{height}", flush=True)
        items = tabletop_scenes(args.num_sets, width, height, args.seed)
        options = MakeBagOptions("fusion_tabletop", num_sets=args.num_sets, seed=args.seed, timing=timing)
        resize_mode = "center_crop"  # the centre square of a render is the view the model was trained on
        # at the camera's resolution: with compositing what a camera saw keeps its own detail
        parameters, cell = {"output_size": "camera"}, CAMERA_CELL
    else:
        items = None
        options = MakeBagOptions(
            num_sets=args.num_sets, seed=args.seed, width=args.width, height=args.height, timing=timing
        )
        resize_mode = "resize"
        parameters, cell = {}, GRID_CELL
    print(f"demo: {make_bag(input_bag, options, overwrite=True, items=items).describe()}", flush=True)
    print(f"demo: fusion_node with {model} (ROS_DOMAIN_ID={args.domain_id}), replaying at {args.rate} Hz", flush=True)
    fuse_live(input_bag, fused_bag, model, args.num_hypotheses, args.seed, args.domain_id, out, resize_mode, parameters)
    print(f"demo: recorded the node's outputs to {fused_bag} after {time.monotonic() - started:.1f} s", flush=True)
    report_and_picture(input_bag, fused_bag, out, resize_mode, cell)
    print(f"demo: done in {time.monotonic() - started:.1f} s (bags, logs and picture in {out}/)", flush=True)


def run_arm_demo(model: Path, args: argparse.Namespace, out: Path, input_bag: Path, fused_bag: Path) -> None:
    """The one-camera demo (``--scenes arm``, demo_arm.py): render, bag, live node in temporal mode, score, picture."""
    width, height = args.width or TABLETOP_CAMERA_SIZE[0], args.height or TABLETOP_CAMERA_SIZE[1]
    print(f"demo: rendering {args.num_sets} arm sequences of {args.frames} frames at {width}x{height}", flush=True)
    try:
        sequences = demo_arm.arm_sequences(args.num_sets, width, height, args.frames, args.seed)
        summary = demo_arm.write_arm_bag(input_bag, sequences, args.rate, args.seed)
    except DatasetError as error:
        raise DemoError(str(error)) from None
    print(f"demo: {summary.describe()}", flush=True)
    print(f"demo: fusion_node (view_source temporal) with {model} (ROS_DOMAIN_ID={args.domain_id})", flush=True)
    parameters = {"view_source": "temporal", "fusion_rate": "0.0"}  # every frame of the 10 Hz camera
    fuse_live(
        input_bag,
        fused_bag,
        model,
        args.num_hypotheses,
        args.seed,
        args.domain_id,
        out,
        demo_arm.RESIZE_MODE,
        parameters,
    )
    found = demo_arm.fused_frames(load_ground_truth(str(input_bag), with_views=True), load_outputs(str(fused_bag))[0])
    if not found:
        raise DemoError(f"the node fused none of the {len(summary.set_ks)} frames; see {out / 'node.log'}")
    scores = demo_arm.scores_by_k(found)
    print(f"demo: {len(found)} of {len(summary.set_ks)} frames fused\n{demo_arm.scores_table(scores)}", flush=True)
    (out / SCORE_FILE).write_text(json.dumps(scores, indent=2))
    write_grid(out / GRID_FILE, demo_arm.picture_rows(found, ARM_PICTURE_ROWS), demo_arm.FRAME_LABELS)
    print(f"demo: picture of {min(ARM_PICTURE_ROWS, args.num_sets)} sets: {out / GRID_FILE}", flush=True)


def tabletop_scenes(count: int, width: int, height: int, seed: int) -> ViewSets:
    """FusionTabletop test scenes rendered at camera size (imported here: it pulls in torch and pybullet)."""
    from fusionvae_core.data import DatasetError
    from fusionvae_core.data.tabletop.camera import CameraScenes

    try:
        return CameraScenes("test", count, width, height, seed)
    except DatasetError as error:
        raise DemoError(str(error)) from None


def report_and_picture(input_bag: Path, fused_bag: Path, out: Path, resize_mode: str, cell: int) -> None:
    """Print the score, save it as JSON and draw a few sets of each K (tiles of cell x cell pixels); DemoError if
    nothing was fused."""
    sets = load_ground_truth(str(input_bag), with_views=True)
    outputs, arrivals = load_outputs(str(fused_bag))
    matching = match_outputs(sets, outputs, tolerance_ns=1_000_000)
    report = build_report(sets, matching, arrivals, resize_mode)
    print(report.to_text(), flush=True)
    (out / SCORE_FILE).write_text(report.to_json())
    rows = []
    for k in sorted({truth.info.k for truth, _ in matching.pairs}):
        rows += [pair for pair in matching.pairs if pair[0].info.k == k][:ROWS_PER_K]
    if not rows:
        raise DemoError(f"the node fused none of the {len(sets)} sets; see {out / 'node.log'}")
    labels = [f"view {c}" for c in range(len(CAMERA_TOPICS))]
    write_grid(out / GRID_FILE, camera_rows(rows, list(CAMERA_TOPICS), resize_mode), labels, cell)
    print(f"demo: picture of {len(rows)} sets: {out / GRID_FILE}", flush=True)


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options of the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m fusionvae_ros.demo", description=__doc__, formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument(
        "--model",
        help="exported ONNX model to run (default: the shipped models/fusion_mnist/model.onnx), or 'tabletop' for "
        "the colour demo with models/fusion_tabletop/model.onnx on rendered scenes",
    )
    parser.add_argument(
        "--scenes",
        choices=("digits", TABLETOP, ARM),
        help="what the cameras see: occluded MNIST digits, FusionTabletop scenes rendered at camera size, or one "
        "fixed camera watching a robot arm move over the table (the node's view_source temporal; default model: "
        "the FusionTabletop one) (default: tabletop with --model tabletop, else digits)",
    )
    parser.add_argument("--output-dir", default="demo_output", help="where bags, logs, score and picture go")
    parser.add_argument(
        "--num-sets",
        type=int,
        help=f"view sets in the demo bag; --scenes arm: sequences (default {CAMERA_DEFAULTS['num_sets']}, arm "
        f"{ARM_DEFAULTS['num_sets']})",
    )
    parser.add_argument(
        "--rate", type=float, help="view sets (arm: frames) per second in the bag and the replay (default 10)"
    )
    parser.add_argument("--frames", type=int, default=8, help="--scenes arm: frames per sequence")
    parser.add_argument("--num-hypotheses", type=int, default=4, help="hypotheses the node samples per set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bag and of the node's per-set noise")
    parser.add_argument("--width", type=int, help="stretch the camera images to this width, e.g. 640 (needs --height)")
    parser.add_argument("--height", type=int, help="stretch the camera images to this height, e.g. 480 (needs --width)")
    parser.add_argument(
        "--domain-id",
        type=domain_id,
        help="ROS_DOMAIN_ID of the demo's processes (discovery stays on this machine); default: the environment's "
        "ROS_DOMAIN_ID, else a per-process one in 20..99",
    )
    args = parser.parse_args(argv)
    if args.domain_id is None:
        environment_id = os.environ.get("ROS_DOMAIN_ID", "").strip()
        try:
            args.domain_id = domain_id(environment_id) if environment_id else 20 + os.getpid() % 80
        except argparse.ArgumentTypeError as error:
            parser.error(f"environment variable ROS_DOMAIN_ID: {error}")
    args.scenes = args.scenes or (TABLETOP if args.model == TABLETOP else "digits")
    for name, value in (ARM_DEFAULTS if args.scenes == ARM else CAMERA_DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def domain_id(text: str) -> int:
    """argparse type: a ROS domain id, 0..MAX_DOMAIN_ID."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_DOMAIN_ID:
        raise argparse.ArgumentTypeError(f"expected a ROS domain id 0..{MAX_DOMAIN_ID}, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 2 if there is no model (a usage error), 1 if a step fails (the reason on one line or a
    log tail)."""
    args = parse_args(argv)
    tabletop = args.model == TABLETOP or (args.model is None and args.scenes == ARM)
    model = shipped_file(TABLETOP_MODEL) if tabletop else resolve_model_path(args.model or "")
    problem = None if model.is_file() else "not a regular file" if model.exists() else "file not found"
    if problem and tabletop:
        print(
            f"demo: no FusionTabletop model at {model} ({problem}): render the cache, train and ship it first "
            "(README, FusionTabletop), then rerun.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if problem:
        print(
            f"demo: cannot use model {model}: {problem}.\n"
            "  The demo runs the shipped FusionMNIST model (models/fusion_mnist/model.onnx). Train and export one\n"
            "  (see README: training/train.py, training/export.py) or pass --model PATH to an exported ONNX file.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        run_demo(model, args)
    except (DemoError, BagError, subprocess.TimeoutExpired) as error:
        print(f"demo: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
