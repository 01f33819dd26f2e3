"""The on-disk render cache of one split of a rendered benchmark (fusion_tabletop, or a `Benchmark` subclass such as
fusion_tabletop_arm): shards of rendered items and a manifest describing them.

Layout: `<root>/<split>/manifest.json` and `<root>/<split>/shard_NNNNN.npz`. Shard i holds items
[i·shard_size, (i+1)·shard_size) as uint8 `targets` [n,H,W,3] and `views` [n,V,H,W,3] (V = 3 views, or the T
frames of a sequence), plus the segmentation facts `target_mask` [n,H,W], `visible` [n,V,H,W] and the visibility
labels `view_visible` [n,V,H,W] (see generator.RenderedScene). The manifest records what produced the shards
(benchmark, format, generator version, pybullet version, object split seed, split, seed, image and shard size, and
the benchmark's own settings), the item count, and each finished shard with its SHA-256.

Rendering (`render_cache`) writes every shard and then the manifest atomically, so an interrupted run leaves
only finished shards on record and the next run resumes after them. A manifest made by anything else than the
requested setup is discarded with its shards and the split is rendered anew; a shard whose bytes do not match
its checksum is rendered again. Reading (`load_cache`) never renders: it refuses incomplete, outdated or corrupt
caches with a DatasetError saying which command fixes them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fusionvae_core.atomic_file import write_atomically
from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.objects import OBJECT_SPLIT_SEED, object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer

CACHE_FORMAT = 2  # 2: shards hold the visibility labels `view_visible`
MANIFEST_FILE = "manifest.json"
SHARD_ARRAYS = ("targets", "views", "target_mask", "visible", "view_visible")
TRAINING_ARRAYS = ("targets", "views", "target_mask", "view_visible")  # what a dataset reads (not `visible`)
DEFAULT_SHARD_SIZE = 100
RENDER_MODULE = "fusionvae_core.data.tabletop"  # `python -m` module of the render command


class Benchmark:
    """fusion_tabletop as a cache sees it: name, code version, own settings and item renderer; subclasses describe
    other benchmarks rendered with the same machinery. Instances travel to render worker processes (pickled)."""

    name = "fusion_tabletop"
    unit = "scene"  # what one item is, for progress and messages

    @property
    def version(self) -> int | str:
        """Version of the code that renders the items: caches of another version are rendered anew."""
        return generator.GENERATOR_VERSION

    def settings(self) -> dict[str, Any]:
        """This benchmark's own settings that shape its renders (recorded in the manifest; none here)."""
        return {}

    def command_options(self) -> str:
        """Options of the render command that select this benchmark and its settings (none: the default)."""
        return ""

    def eval_views(self, views: np.ndarray) -> list[int]:
        """Which of an item's rendered `views` (uint8 [V,H,W,3]) make the views of a val/test item, in order: all, as
        rendered."""
        return list(range(len(views)))

    def render(
        self,
        renderer: TabletopRenderer,
        objects: list[str],
        split: str,
        rng: np.random.Generator,
        width: int,
        height: int,
    ) -> generator.RenderedScene:
        """One item of `split` drawn with `rng` from the split's `objects`, rendered at `width` x `height`."""
        return generator.render_scene(renderer, objects, rng, width, height)

    def render_item(
        self, renderer: TabletopRenderer, objects: list[str], seed: int, split: str, index: int, size: int
    ) -> generator.RenderedScene:
        """Item `index` of `split` rendered square at `size` pixels."""
        return self.render(renderer, objects, split, generator.item_rng(seed, split, index), size, size)

    def render_command(self, root: Path | str, split: str) -> str:
        """The shell command that renders (or finishes, or repairs) the cache of `split` under `root`."""
        return f"python -m {RENDER_MODULE} render{self.command_options()} --out {root} --split {split} --count N"


TABLETOP = Benchmark()


def setup_of(
    split: str, seed: int, image_size: int, shard_size: int, benchmark: Benchmark = TABLETOP
) -> dict[str, Any]:
    """Everything that determines the renders of a cache; a manifest with another setup is rendered anew."""
    return {
        "benchmark": benchmark.name,
        "format": CACHE_FORMAT,
        "generator_version": benchmark.version,
        "pybullet": version("pybullet"),
        "object_split_seed": OBJECT_SPLIT_SEED,
        "split": split,
        "seed": seed,
        "image_size": image_size,
        "shard_size": shard_size,
        **benchmark.settings(),
    }


def shard_name(index: int) -> str:
    """File name of shard `index`."""
    return f"shard_{index:05d}.npz"


def shard_sizes(count: int, shard_size: int) -> list[int]:
    """Number of items in each shard of a `count`-item cache."""
    return [min(shard_size, count - start) for start in range(0, count, shard_size)]


def check_render_options(count: int, image_size: int, shard_size: int, workers: int) -> None:
    """DatasetError naming the first option of `render_cache` that is out of range."""
    for name, value, low in (
        ("count", count, 1),
        ("image_size", image_size, 8),
        ("shard_size", shard_size, 1),
        ("workers", workers, 1),
    ):
        if value < low:
            raise DatasetError(f"{name} must be >= {low}, got {value}")


@dataclass
class RenderReport:
    """What one `render_cache` call did: items rendered, shards reused from an earlier run, seconds spent."""

    count: int
    rendered_items: int
    reused_shards: int
    seconds: float
    discarded: str | None  # why an existing cache was thrown away, if it was

    @property
    def scenes_per_second(self) -> float:
        """Render rate of this call (items per second of wall time)."""
        return self.rendered_items / self.seconds if self.seconds > 0 else math.nan


def render_cache(
    root: Path | str,
    split: str,
    count: int,
    seed: int = 0,
    image_size: int = 64,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    benchmark: Benchmark = TABLETOP,
) -> RenderReport:
    """Render items 0..count-1 of `benchmark`'s `split` into `<root>/<split>`, reusing the finished shards of an
    earlier run.

    `progress(n)` is called as n more items are done (per item with one worker, per shard with several).
    """
    check_render_options(count, image_size, shard_size, workers)
    directory = Path(root) / split
    setup = setup_of(split, seed, image_size, shard_size, benchmark)
    manifest, discarded = _reusable_manifest(directory, setup)
    sizes = {shard_name(i): size for i, size in enumerate(shard_sizes(count, shard_size))}
    for surplus in directory.glob("shard_*.npz"):  # left by an earlier, larger count
        if surplus.name not in sizes:
            surplus.unlink()
    done = [
        entry
        for entry in manifest["shards"]
        if isinstance(entry, dict)
        and sizes.get(str(entry.get("file"))) == entry.get("items")
        and _file_matches(directory / entry["file"], str(entry.get("sha256")))
    ]
    manifest.update(count=count, shards=list(done))
    _write_manifest(directory, manifest)
    if progress is not None:
        progress(sum(entry["items"] for entry in done))
    finished = {entry["file"] for entry in done}
    todo = [i for i, name in enumerate(sizes) if name not in finished]
    earlier_seconds = float(manifest.get("render_seconds", 0.0))
    start = time.perf_counter()
    rendered = 0
    for index, payload in _rendered_shards(todo, benchmark, setup, list(sizes.values()), workers, progress):
        name = shard_name(index)
        write_atomically(directory / name, payload)
        manifest["shards"].append({"file": name, "items": sizes[name], "sha256": hashlib.sha256(payload).hexdigest()})
        manifest["shards"].sort(key=lambda entry: entry["file"])
        manifest["render_seconds"] = round(earlier_seconds + time.perf_counter() - start, 3)
        rendered += sizes[name]
        _write_manifest(directory, manifest)
    seconds = time.perf_counter() - start
    return RenderReport(count, rendered, len(done), seconds, discarded)


def _rendered_shards(
    todo: list[int],
    benchmark: Benchmark,
    setup: dict[str, Any],
    sizes: list[int],
    workers: int,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[int, bytes]]:
    """Render the shards `todo` in this process (one worker) or a process pool; yields (index, npz bytes)."""
    jobs = [(benchmark, setup, index, sizes[index]) for index in todo]
    if workers == 1 or len(jobs) == 1:
        with TabletopRenderer() as renderer:
            for job in jobs:
                yield job[2], _render_shard(renderer, *job, progress=progress)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for index, payload in zip(todo, pool.map(_render_shard_in_worker, jobs)):
            if progress is not None:
                progress(sizes[index])
            yield index, payload


_worker_renderer: TabletopRenderer | None = None


def _render_shard_in_worker(job: tuple[Benchmark, dict[str, Any], int, int]) -> bytes:
    """Pool entry point: one renderer per worker process, kept for all its shards."""
    global _worker_renderer
    if _worker_renderer is None:
        _worker_renderer = TabletopRenderer()
    return _render_shard(_worker_renderer, *job)


def _render_shard(
    renderer: TabletopRenderer,
    benchmark: Benchmark,
    setup: dict[str, Any],
    index: int,
    items: int,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Render the `items` items of shard `index` and serialise them as npz bytes."""
    objects = object_set(setup["split"])
    first = index * setup["shard_size"]
    scenes = []
    for item in range(first, first + items):
        scenes.append(
            benchmark.render_item(renderer, objects, setup["seed"], setup["split"], item, setup["image_size"])
        )
        if progress is not None:
            progress(1)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        targets=np.stack([scene.target for scene in scenes]),
        views=np.stack([scene.views for scene in scenes]),
        target_mask=np.stack([scene.target_mask for scene in scenes]),
        visible=np.stack([scene.visible for scene in scenes]),
        view_visible=np.stack([scene.view_visible for scene in scenes]),
    )
    return buffer.getvalue()


def _reusable_manifest(directory: Path, setup: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The existing manifest if it was made with `setup`, else a fresh one (old shards deleted) and the reason."""
    fresh: dict[str, Any] = {**setup, "count": 0, "shards": []}
    path = directory / MANIFEST_FILE
    if not path.exists():
        return fresh, None
    try:
        manifest = _read_manifest(path)
        changed = [key for key, value in setup.items() if manifest.get(key) != value]
        if not isinstance(manifest.get("shards"), list):
            changed.append("shards")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        manifest, changed = None, ["unreadable manifest"]
    if not changed:
        return manifest, None
    for stale in directory.glob("shard_*.npz"):
        stale.unlink()
    return fresh, ", ".join(
        f"{key} {manifest.get(key)!r} -> {setup[key]!r}" if manifest and key in setup else key for key in changed
    )


def _file_matches(path: Path, sha256: str) -> bool:
    """Whether `path` exists and its bytes have the SHA-256 `sha256`."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _read_manifest(path: Path) -> Any:
    """The parsed manifest at `path`; manifests from before the `benchmark` field are fusion_tabletop's."""
    manifest = json.loads(path.read_text())
    if isinstance(manifest, dict):
        manifest.setdefault("benchmark", TABLETOP.name)
    return manifest


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    write_atomically(directory / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())


class CachedScenes(NamedTuple):
    """A loaded split: the arrays of all shards concatenated (see the module doc; `visible` only when asked for)
    and the manifest."""

    targets: np.ndarray
    views: np.ndarray
    target_mask: np.ndarray
    view_visible: np.ndarray
    visible: np.ndarray | None
    manifest: dict[str, Any]


def load_cache(root: Path | str, split: str, masks: bool = False, benchmark: Benchmark = TABLETOP) -> CachedScenes:
    """Read and verify the finished `benchmark` cache of `split` under `root`; DatasetError naming the fix otherwise.

    The per-view target-object masks `visible` are decompressed only with `masks` (datasets do not need them).
    """
    directory = Path(root) / split
    fix = f"run `{benchmark.render_command(root, split)}`"
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(f"{directory}: no {benchmark.name} render cache ({MANIFEST_FILE} missing); render it: {fix}")
    try:
        manifest = _read_manifest(path)
        shards, count = list(manifest["shards"]), int(manifest["count"])
        generator_version, shard_size = manifest["generator_version"], int(manifest["shard_size"])
        if not all(isinstance(shard, dict) for shard in shards):
            raise TypeError("every shard entry must be a mapping")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(f"{path}: unreadable manifest ({error}); {fix} to render the split anew") from error
    if manifest["benchmark"] != benchmark.name:
        raise DatasetError(f"{directory}: holds a {manifest['benchmark']} cache, not {benchmark.name}; {fix} elsewhere")
    if manifest.get("format") != CACHE_FORMAT or generator_version != benchmark.version:
        raise DatasetError(
            f"{directory}: rendered by generator version {generator_version} (cache format "
            f"{manifest.get('format')}), this code renders version {benchmark.version} (format "
            f"{CACHE_FORMAT}); {fix} to render it again"
        )
    expected = shard_sizes(count, shard_size)
    present = sum(shard.get("items", 0) for shard in shards)
    if [shard.get("file") for shard in shards] != [shard_name(i) for i in range(len(expected))]:
        raise DatasetError(f"{directory}: incomplete render cache ({present} of {count} items); {fix} to finish it")
    names = SHARD_ARRAYS if masks else TRAINING_ARRAYS
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for shard, items in zip(shards, expected):
        for name, array in _read_shard(directory / shard["file"], shard.get("sha256"), items, names, fix).items():
            arrays[name].append(array)
    loaded = {name: np.concatenate(parts) for name, parts in arrays.items()}
    return CachedScenes(
        loaded["targets"],
        loaded["views"],
        loaded["target_mask"],
        loaded["view_visible"],
        loaded.get("visible"),
        manifest,
    )


def _read_shard(path: Path, sha256: str | None, items: int, names: tuple[str, ...], fix: str) -> dict[str, np.ndarray]:
    """The arrays of one shard after checking its checksum and shapes; DatasetError if it is damaged."""
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read this shard ({error.strerror}); {fix} to render it again") from error
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise DatasetError(f"{path}: corrupt shard (checksum mismatch); {fix} to render it again")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in names}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path}: unreadable shard ({error}); {fix} to render it again") from error
    if any(len(array) != items for array in arrays.values()):
        raise DatasetError(f"{path}: holds the wrong number of items; {fix} to render it again")
    return arrays
