"""FusionTabletop render cache: resume after interruption, re-render on a changed setup or damaged shard, the CLI,
and the dataset and loader reading it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fusionvae_core.data import DatasetError, build_dataset, make_loader
from fusionvae_core.data.fusion_dataset import FusionDataset, FusionItem
from fusionvae_core.data.preview import GAP, HEADER_HEIGHT, LABEL_WIDTH
from fusionvae_core.data.preview import main as preview_main
from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.cache import MANIFEST_FILE, load_cache, render_cache
from fusionvae_core.data.tabletop.cli import main as cli_main

pytestmark = pytest.mark.slow

SIZE, COUNT, SHARD = 32, 6, 2
SPLIT = "test"


def render(root: Path, **options: object) -> object:
    return render_cache(root, SPLIT, COUNT, seed=0, image_size=SIZE, shard_size=SHARD, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 6-item cache rendered in one go (never modified; tests copy it)."""
    root = tmp_path_factory.mktemp("reference")
    render(root)
    return root


@pytest.fixture
def cache(reference: Path, tmp_path: Path) -> Path:
    """A private copy of the reference cache."""
    shutil.copytree(reference, tmp_path / "cache")
    return tmp_path / "cache"


def assert_same_scenes(root: Path, reference: Path) -> None:
    a, b = load_cache(root, SPLIT, masks=True), load_cache(reference, SPLIT, masks=True)
    for name in ("targets", "views", "target_mask", "visible"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_finished_cache_is_reused_and_loads(reference: Path) -> None:
    scenes = load_cache(reference, SPLIT, masks=True)
    assert scenes.targets.shape == (COUNT, SIZE, SIZE, 3) and scenes.views.shape == (COUNT, 3, SIZE, SIZE, 3)
    assert scenes.visible is not None and scenes.visible.shape == (COUNT, 3, SIZE, SIZE)
    assert load_cache(reference, SPLIT).visible is None  # masks stay compressed unless asked for
    manifest = json.loads((reference / SPLIT / MANIFEST_FILE).read_text())
    assert manifest["generator_version"] == generator.GENERATOR_VERSION and manifest["seed"] == 0
    assert [shard["items"] for shard in manifest["shards"]] == [2, 2, 2]
    report = render(reference)  # nothing left to do: all shards reused, nothing rendered
    assert (report.rendered_items, report.reused_shards) == (0, 3)  # type: ignore[attr-defined]


def test_a_smaller_count_keeps_the_first_shards_and_removes_the_rest(cache: Path, reference: Path) -> None:
    report = render_cache(cache, SPLIT, 4, seed=0, image_size=SIZE, shard_size=SHARD)
    assert (report.rendered_items, report.reused_shards) == (0, 2)
    assert sorted(path.name for path in (cache / SPLIT).glob("shard_*")) == ["shard_00000.npz", "shard_00001.npz"]
    np.testing.assert_array_equal(load_cache(cache, SPLIT).views, load_cache(reference, SPLIT).views[:4])


def test_interrupted_render_resumes_after_the_finished_shards(tmp_path: Path, reference: Path) -> None:
    done = []

    def interrupt_after_three(items: int) -> None:
        done.append(items)
        if sum(done) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(tmp_path, progress=interrupt_after_three)
    manifest = json.loads((tmp_path / SPLIT / MANIFEST_FILE).read_text())
    assert [shard["file"] for shard in manifest["shards"]] == ["shard_00000.npz"]
    with pytest.raises(DatasetError, match=r"incomplete render cache \(2 of 6 items\)"):
        load_cache(tmp_path, SPLIT)
    report = render(tmp_path)
    assert (report.rendered_items, report.reused_shards) == (4, 1)  # type: ignore[attr-defined]
    assert_same_scenes(tmp_path, reference)  # same bytes as the uninterrupted render


def test_worker_processes_render_the_same_bytes(tmp_path: Path, reference: Path) -> None:
    report = render(tmp_path, workers=2)
    assert report.rendered_items == COUNT  # type: ignore[attr-defined]
    assert_same_scenes(tmp_path, reference)


def test_changed_generator_version_renders_anew(cache: Path, reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "GENERATOR_VERSION", generator.GENERATOR_VERSION + 1)
    with pytest.raises(DatasetError, match="generator version"):
        load_cache(cache, SPLIT)
    report = render(cache)
    assert report.rendered_items == COUNT and report.reused_shards == 0  # type: ignore[attr-defined]
    assert "generator_version" in report.discarded  # type: ignore[attr-defined]
    assert json.loads((cache / SPLIT / MANIFEST_FILE).read_text())["generator_version"] == generator.GENERATOR_VERSION
    monkeypatch.undo()
    with pytest.raises(DatasetError, match="generator version"):
        load_cache(cache, SPLIT)  # the re-rendered cache is now of the bumped version


def test_changed_seed_renders_anew(cache: Path, reference: Path) -> None:
    report = render_cache(cache, SPLIT, COUNT, seed=1, image_size=SIZE, shard_size=SHARD)
    assert report.rendered_items == COUNT and "seed 0 -> 1" in (report.discarded or "")
    assert load_cache(cache, SPLIT).targets.tobytes() != load_cache(reference, SPLIT).targets.tobytes()


def test_corrupt_shard_is_refused_then_rendered_again(cache: Path, reference: Path) -> None:
    shard = cache / SPLIT / "shard_00001.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"shard_00001\.npz: corrupt shard \(checksum mismatch\)"):
        load_cache(cache, SPLIT)
    with pytest.raises(DatasetError, match="corrupt shard"):
        build_dataset("fusion_tabletop", SPLIT, cache)
    report = render(cache)
    assert (report.rendered_items, report.reused_shards) == (SHARD, 2)  # type: ignore[attr-defined]
    assert_same_scenes(cache, reference)


def test_unreadable_manifest_is_refused_then_rendered_anew(cache: Path, reference: Path) -> None:
    (cache / SPLIT / MANIFEST_FILE).write_text('{"format": 1, "shards": [')
    with pytest.raises(DatasetError, match="unreadable manifest"):
        load_cache(cache, SPLIT)
    report = render(cache)
    assert report.rendered_items == COUNT and report.discarded == "unreadable manifest"  # type: ignore[attr-defined]
    assert_same_scenes(cache, reference)


def test_manifests_from_before_the_benchmark_field_still_load_and_resume(cache: Path) -> None:
    path = cache / SPLIT / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    del manifest["benchmark"]
    path.write_text(json.dumps(manifest))
    assert len(load_cache(cache, SPLIT).targets) == COUNT
    report = render(cache)
    assert (report.rendered_items, report.reused_shards) == (0, 3)  # type: ignore[attr-defined]


def test_missing_cache_names_the_render_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"python -m fusionvae_core\.data\.tabletop render --out .* --split val"):
        build_dataset("fusion_tabletop", "val", tmp_path)
    with pytest.raises(DatasetError, match="reads a render cache"):
        build_dataset("fusion_tabletop", "train", None)


def test_dataset_items_and_loader_batches(reference: Path) -> None:
    scenes = load_cache(reference, SPLIT)
    dataset = build_dataset("fusion_tabletop", SPLIT, reference)
    assert (len(dataset), dataset.image_size, dataset.channels) == (COUNT, SIZE, 3)
    item = dataset[1]
    assert item.views.shape == (3, 3, SIZE, SIZE) and item.target.shape == (3, SIZE, SIZE)
    expected = torch.from_numpy(scenes.views[1]).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(item.views, expected)  # evaluation items are the renders, unaugmented
    batch = next(iter(make_loader(dataset, batch_size=4, shuffle=False, num_workers=0, seed=0, fixed_k=2)))
    assert batch.views.shape == (4, 2, 3, SIZE, SIZE) and batch.target.shape == (4, 3, SIZE, SIZE)


def as_training_split(split_dir: Path, root: Path) -> Path:
    """Copy a rendered split to `root`/train, relabelled as the training split (training items are augmented)."""
    shutil.copytree(split_dir, root / "train")
    manifest_path = root / "train" / MANIFEST_FILE
    manifest_path.write_text(manifest_path.read_text().replace(f'"split": "{split_dir.name}"', '"split": "train"'))
    return root


def training_draws(dataset: FusionDataset, target: torch.Tensor, draws: int = 30) -> Iterator[tuple[FusionItem, bool]]:
    """`draws` augmented draws of item 0 (seeded), each with whether it was mirrored; its target must be `target` or
    `target` mirrored."""
    torch.manual_seed(0)
    for _ in range(draws):
        item = dataset[0]
        flipped = not torch.equal(item.target, target)
        assert torch.equal(item.target, target.flip(-1) if flipped else target)
        yield item, flipped


def test_training_items_shuffle_views_and_mirror_the_whole_item(reference: Path, tmp_path: Path) -> None:
    dataset = build_dataset("fusion_tabletop", "train", as_training_split(reference / SPLIT, tmp_path))
    scenes = load_cache(tmp_path, "train")
    rendered = [torch.from_numpy(view).permute(2, 0, 1).float() / 255 for view in scenes.views[0]]
    target = torch.from_numpy(scenes.targets[0]).permute(2, 0, 1).float() / 255
    orders, flips = set(), set()
    for item, flipped in training_draws(dataset, target):
        candidates = [view.flip(-1) if flipped else view for view in rendered]
        order = tuple(
            next(j for j, view in enumerate(candidates) if torch.equal(item.views[i], view)) for i in range(3)
        )
        assert sorted(order) == [0, 1, 2]
        orders.add(order)
        flips.add(flipped)
    assert flips == {False, True} and len(orders) > 1


def test_cli_renders_with_a_rate_and_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["render", "--out", str(tmp_path), "--split", "val", "--count", "3", "--image-size", "24"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "val: 3 scenes at 24x24; rendered 3 in" in out and "scenes/s with 1 worker(s)" in out
    assert len(build_dataset("fusion_tabletop", "val", tmp_path)) == 3
    assert cli_main(args) == 0
    assert "rendered 0 in" in capsys.readouterr().out
    assert cli_main([*args[:-2], "--image-size", "4"]) == 2
    assert capsys.readouterr().err == "error: image_size must be >= 8, got 4\n"
    assert np.array_equal(load_cache(tmp_path, "val").targets.shape, (3, 24, 24, 3))


def test_preview_draws_the_rendered_views_and_targets(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert preview_main(["--dataset", "fusion_tabletop", "--data-root", str(reference), "--out", str(out)]) == 0
    grid = cv2.imread(str(out))[:, :, ::-1]
    scenes = load_cache(reference, SPLIT)
    cell = 128  # 32x32 renders at scale 4
    for k in range(4):
        top = HEADER_HEIGHT + k * (cell + GAP)
        np.testing.assert_array_equal(grid[top : top + cell : 4, -cell - GAP : -GAP : 4], scenes.targets[k])
        for view_index in range(k):
            left = LABEL_WIDTH + view_index * (cell + GAP)
            np.testing.assert_array_equal(
                grid[top : top + cell : 4, left : left + cell : 4], scenes.views[k, view_index]
            )
