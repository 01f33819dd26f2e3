"""Which earlier frames to fuse with a fixed camera's newest one: candidate rules compared on rendered arm sequences.

Model-free measure, from the renderer's visibility labels (1 = not covered by the arm or its shadow): of the newest
frame's hidden pixels (label 0), the share that at least one picked frame shows (label 1), pooled over the sequences;
and the same share among the target-object pixels (what fusion is for). Every rule sees only the frames, as the node
does; "best pair by the labels" is the upper bound (it reads the labels). The rules are run on the frames as rendered,
with Gaussian sensor noise (std NOISE_STD) added (a rule that compares pixels must not pick noise), and on windows in
which the arm first rests (a robot that waited, then moved: a window's time no longer tells how far the arm has moved).
The shipped rule is compared with evenly spaced frames sequence by sequence. Then the shipped rule's change threshold is
swept, and its cost is timed on a node-sized window.

Each window length (--frames) is a val split of fusion_tabletop_arm at 64x64 (the model's input), rendered into
--cache-root (reused when present) or a temporary folder. The shipped rule is fusionvae_core.frame_selection's
select_frames, called here (not copied), so this table is about the code the node and the dataset run.

    .venv/bin/python bench/frame_selection.py [--sequences 60] [--frames 8 16] [--cache-root DIR]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fusionvae_core.data.tabletop.cache import load_cache, render_cache
from fusionvae_core.data.tabletop.sequence import ArmBenchmark
from fusionvae_core.frame_selection import CHANGE_THRESHOLD, changed_pixels, select_frames

SPLIT = "val"
NOISE_STD = 4.0
THRESHOLDS = (4, 8, 16, 24, 40)
TIMED_WINDOW = 30  # frames in the node's default window (1 s at 30 Hz)
SHIPPED = "oldest + change cover (select_frames, shipped)"
EVENLY_SPACED = "evenly spaced (oldest + middle)"

#: A rule: (frames uint8 [T,H,W,3] oldest first, visibility labels bool [T,H,W]) -> the 2 earlier frames it picks.
Rule = Callable[[np.ndarray, np.ndarray], list[int]]


def evenly_spaced(frames: np.ndarray, _: np.ndarray) -> list[int]:
    """The oldest frame and the middle of the window (the fixed choice the arm dataset's val/test items made)."""
    return [0, (len(frames) - 1) // 2]


def two_oldest(frames: np.ndarray, _: np.ndarray) -> list[int]:
    """The two oldest frames."""
    return [0, 1]


def farthest_change(frames: np.ndarray, _: np.ndarray) -> list[int]:
    """Largest mean absolute difference from the newest frame, then greedy farthest point from {newest, first}."""
    pixels = frames.astype(np.int16)

    def distance(a: int, b: int) -> float:
        return float(np.abs(pixels[a] - pixels[b]).mean())

    newest, candidates = len(frames) - 1, range(len(frames) - 1)
    first = max(candidates, key=lambda i: (distance(i, newest), -i))
    second = max(
        (i for i in candidates if i != first), key=lambda i: (min(distance(i, newest), distance(i, first)), -i)
    )
    return [first, second]


def change_cover(frames: np.ndarray, _: np.ndarray) -> list[int]:
    """Greedy cover of the pixels that changed from the newest frame, from scratch (no oldest frame first)."""
    newest = len(frames) - 1
    changed = [changed_pixels(frame, frames[newest]) for frame in frames[:newest]]
    first = max(range(newest), key=lambda i: (np.count_nonzero(changed[i]), -i))
    second = max(
        (i for i in range(newest) if i != first), key=lambda i: (np.count_nonzero(changed[i] & ~changed[first]), -i)
    )
    return [first, second]


def shipped(threshold: int) -> Rule:
    """select_frames with ``threshold``: its two earlier frames."""
    return lambda frames, _: select_frames(list(frames), threshold)[1:]


def random_pair(seed: int = 0) -> Rule:
    """Two distinct earlier frames drawn at random (a fixed seed)."""
    rng = np.random.default_rng(seed)
    return lambda frames, _: [int(i) for i in rng.choice(len(frames) - 1, 2, replace=False)]


def best_pair(_: np.ndarray, visible: np.ndarray) -> list[int]:
    """The pair that shows most of the newest frame's hidden pixels, read from the labels (upper bound)."""
    hidden = ~visible[-1]
    pairs = itertools.combinations(range(len(visible) - 1), 2)
    return list(max(pairs, key=lambda pair: np.count_nonzero(hidden & (visible[pair[0]] | visible[pair[1]]))))


RULES: dict[str, Rule] = {
    "two oldest": two_oldest,
    "random pair": random_pair(),
    EVENLY_SPACED: evenly_spaced,
    "largest change (MAD, farthest point)": farthest_change,
    "change cover (greedy)": change_cover,
    SHIPPED: shipped(CHANGE_THRESHOLD),
    "best pair by the labels (upper bound)": best_pair,
}


def counts(rule: Rule, frames: np.ndarray, visible: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Per sequence: [hidden pixels shown, hidden pixels, hidden object pixels shown, hidden object pixels]."""
    rows = []
    for window, labels, mask in zip(frames, visible, objects):
        picks = rule(window, labels)
        if len(set(picks)) != 2 or len(window) - 1 in picks:
            raise AssertionError(f"a rule must pick 2 distinct earlier frames, got {picks}")
        hidden = ~labels[-1]
        shown = hidden & np.logical_or.reduce(labels[picks])
        rows.append([np.count_nonzero(x) for x in (shown, hidden, shown & mask, hidden & mask)])
    return np.asarray(rows, dtype=np.float64)


def shares(rows: np.ndarray) -> tuple[float, float]:
    """(hidden pixels shown, hidden object pixels shown) / their counts, pooled over the sequences in ``rows``."""
    total = rows.sum(axis=0)
    return total[0] / total[1], total[2] / total[3]


def noisy(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """``frames`` with Gaussian sensor noise of std NOISE_STD, clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, NOISE_STD, frames.shape)
    return np.clip(np.rint(frames + noise), 0, 255).astype(np.uint8)


def resting(frames: np.ndarray) -> np.ndarray:
    """Each window doubled in length by the arm resting at its first pose first (T copies of frame 0, then the T
    frames): a robot that waited before it moved; evenly spaced frames then land on the resting pose twice."""
    return np.concatenate([np.repeat(frames[:, :1], frames.shape[1], axis=1), frames], axis=1)


def window_split(root: Path, frames: int, sequences: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, labels, object masks) of the val split with ``frames``-frame windows, rendered if not cached."""
    folder = root / f"frames_{frames}"
    started = time.monotonic()
    report = render_cache(folder, SPLIT, sequences, benchmark=ArmBenchmark(frames))
    if report.rendered_items:
        print(f"rendered {report.rendered_items} sequences in {time.monotonic() - started:.0f} s")
    cache = load_cache(folder, SPLIT, benchmark=ArmBenchmark(frames))
    return cache.views, cache.view_visible.astype(bool), cache.target_mask.astype(bool)


def paired(better: np.ndarray, worse: np.ndarray, seed: int = 0, draws: int = 2000) -> str:
    """How the pooled object share of ``better`` exceeds ``worse``'s (per-sequence rows of ``counts``): the
    difference with a 95 % bootstrap interval over sequences, and in how many sequences each shows more."""
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, len(better), len(better)) for _ in range(draws)]
    differences = [shares(better[sample])[1] - shares(worse[sample])[1] for sample in samples]
    low, high = np.percentile(differences, [2.5, 97.5])
    more, fewer = np.sum(better[:, 2] > worse[:, 2]), np.sum(better[:, 2] < worse[:, 2])
    difference = shares(better)[1] - shares(worse)[1]
    return (
        f"{difference:+.3f} (95 % bootstrap interval {low:+.3f} to {high:+.3f}); more object pixels shown in "
        f"{more} sequences, fewer in {fewer}, as many in {len(better) - more - fewer}"
    )


def compare(frames: np.ndarray, visible: np.ndarray, objects: np.ndarray) -> None:
    """The rules' tables for one window length: as rendered, with sensor noise, with a resting arm."""
    conditions = {
        "as rendered": (frames, visible, objects),
        "sensor noise": (noisy(frames), visible, objects),
        "arm rests first": (resting(frames), resting(visible), objects),
    }
    print("| rule | " + " | ".join(f"{name}: hidden | object" for name in conditions) + " |")
    print("|---|" + "---:|---:|" * len(conditions))
    rows = {}
    for name, rule in RULES.items():
        rows[name] = [counts(rule, *arrays) for arrays in conditions.values()]
        cells = " | ".join(f"{hidden:.3f} | {shown:.3f}" for hidden, shown in map(shares, rows[name]))
        print(f"| {name} | {cells} |")
    for condition, index in (("as rendered", 0), ("arm rests first", 2)):
        versus = paired(rows[SHIPPED][index], rows[EVENLY_SPACED][index])
        print(f"\nshipped - evenly spaced, object pixels shown, {condition}: {versus}")
    print("\nshipped rule's change threshold (uint8 levels):\n")
    print("| threshold | " + " | ".join(f"{name}: hidden | object" for name in conditions) + " |")
    print("|---:|" + "---:|---:|" * len(conditions))
    for threshold in THRESHOLDS:
        cells = " | ".join(
            f"{hidden:.3f} | {shown:.3f}"
            for hidden, shown in (shares(counts(shipped(threshold), *arrays)) for arrays in conditions.values())
        )
        mark = " (shipped)" if threshold == CHANGE_THRESHOLD else ""
        print(f"| {threshold}{mark} | {cells} |")


def time_selection(frames: np.ndarray, repeats: int = 50) -> None:
    """select_frames on a TIMED_WINDOW-frame window of model-sized frames (the node's cost per fused set)."""
    window = [frames[i % len(frames)][i % frames.shape[1]] for i in range(TIMED_WINDOW)]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        select_frames(window)
        times.append(time.perf_counter() - start)
    size = window[0].shape
    print(f"\nselect_frames on {TIMED_WINDOW} frames of {size[1]}x{size[0]}: median {np.median(times) * 1e3:.2f} ms")


def main() -> None:
    """Render or reuse the windows, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=60, help="val sequences per window length")
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16], help="window lengths (frames)")
    parser.add_argument("--cache-root", type=Path, help="where the renders are kept (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frame_selection_") as temporary:
        root = args.cache_root or Path(temporary)
        for count in args.frames:
            frames, visible, objects = window_split(root, count, args.sequences)
            share = 1 - visible[:, -1].mean()
            print(
                f"\n## {len(frames)} val sequences of {count} frames at {frames.shape[2]}x{frames.shape[3]}: "
                f"the arm hides {share:.1%} of the newest frame, noise std {NOISE_STD:g}\n"
            )
            compare(frames, visible, objects)
        time_selection(frames)


if __name__ == "__main__":
    main()
