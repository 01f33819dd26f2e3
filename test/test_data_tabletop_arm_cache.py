"""fusion_tabletop_arm render cache, dataset and CLI: round trip, resume, a changed frame count or another benchmark
rendered anew, the selected eval frames, training augmentation that keeps labels on their frames, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_data_tabletop_cache import as_training_split, training_draws

from fusionvae_core.baselines.references import view_median
from fusionvae_core.data import DatasetError, build_dataset, make_loader
from fusionvae_core.data.preview import main as preview_main
from fusionvae_core.data.tabletop.cache import MANIFEST_FILE, TABLETOP, load_cache, render_cache
from fusionvae_core.data.tabletop.cli import main as cli_main
from fusionvae_core.data.tabletop.dataset import ArmDataset
from fusionvae_core.data.tabletop.sequence import ArmBenchmark
from fusionvae_core.evaluation import EvaluationSettings
from fusionvae_core.frame_selection import select_frames
from fusionvae_core.region_evaluation import MSE_MEAN, evaluate_regions
from fusionvae_core.region_report import find_value

SIZE, COUNT, SHARD, FRAMES = 24, 3, 2, 4
SPLIT = "val"
ARM = ArmBenchmark(FRAMES)


def render(root: Path, **options: object) -> object:
    return render_cache(root, SPLIT, COUNT, image_size=SIZE, shard_size=SHARD, benchmark=ARM, **options)  # type: ignore[arg-type]


def chw(image: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, 3] as float [..., 3, H, W] in [0, 1], like the items."""
    return torch.from_numpy(np.ascontiguousarray(image)).movedim(-1, -3).float() / 255


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-sequence cache rendered in one go (never modified; tests copy it)."""
    root = tmp_path_factory.mktemp("reference")
    render(root)
    return root


def test_round_trip_and_resume_after_an_interruption(reference: Path, tmp_path: Path) -> None:
    scenes = load_cache(reference, SPLIT, masks=True, benchmark=ARM)
    assert scenes.views.shape == (COUNT, FRAMES, SIZE, SIZE, 3) and scenes.targets.shape == (COUNT, SIZE, SIZE, 3)
    assert scenes.visible is not None and scenes.view_visible.shape == (COUNT, FRAMES, SIZE, SIZE)
    manifest = json.loads((reference / SPLIT / MANIFEST_FILE).read_text())
    assert (manifest["benchmark"], manifest["frames"], manifest["arms"]["test"]) == ("fusion_tabletop_arm", 4, ["xarm"])

    done: list[int] = []

    def interrupt_after_the_first_shard(items: int) -> None:
        done.append(items)
        if sum(done) > SHARD:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(tmp_path, progress=interrupt_after_the_first_shard)
    incomplete = r"incomplete render cache \(2 of 3 items\).*--benchmark fusion_tabletop_arm"
    with pytest.raises(DatasetError, match=incomplete):
        load_cache(tmp_path, SPLIT, benchmark=ARM)
    report = render(tmp_path)
    assert (report.rendered_items, report.reused_shards) == (1, 1)  # type: ignore[attr-defined]
    again = load_cache(tmp_path, SPLIT, masks=True, benchmark=ARM)
    for name in ("targets", "views", "target_mask", "visible", "view_visible"):
        assert getattr(again, name).tobytes() == getattr(scenes, name).tobytes(), name


def test_another_frame_count_or_benchmark_renders_anew(reference: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(reference, cache)
    with pytest.raises(DatasetError, match="holds a fusion_tabletop_arm cache, not fusion_tabletop"):
        build_dataset("fusion_tabletop", SPLIT, cache)
    report = render_cache(cache, SPLIT, 1, image_size=SIZE, benchmark=ArmBenchmark(3))
    assert report.rendered_items == 1 and "frames 4 -> 3" in (report.discarded or "")
    assert load_cache(cache, SPLIT, benchmark=ARM).views.shape[1] == 3
    report = render_cache(cache, SPLIT, 1, image_size=SIZE)
    assert "benchmark 'fusion_tabletop_arm' -> 'fusion_tabletop'" in (report.discarded or "")
    assert load_cache(cache, SPLIT, benchmark=TABLETOP).views.shape[1] == 3


def test_eval_items_are_the_selected_frames_and_the_window_is_all_of_them(reference: Path) -> None:
    scenes = load_cache(reference, SPLIT, benchmark=ARM)
    dataset = build_dataset("fusion_tabletop_arm", SPLIT, reference)
    assert isinstance(dataset, ArmDataset)
    assert (len(dataset), dataset.image_size, dataset.channels, dataset.frames) == (COUNT, SIZE, 3, FRAMES)
    for index in range(COUNT):
        item = dataset[index]
        chosen = select_frames(scenes.views[index])
        assert chosen[0] == FRAMES - 1 and len(set(chosen)) == 3, "view 0 is the newest frame"
        torch.testing.assert_close(item.views, chw(scenes.views[index][chosen]))
        torch.testing.assert_close(item.visibility, torch.from_numpy(scenes.view_visible[index][chosen]).float())
        torch.testing.assert_close(item.target, chw(scenes.targets[index]))
        assert item.object_mask is not None
        assert torch.equal(item.object_mask, torch.from_numpy(scenes.target_mask[index]))
        np.testing.assert_array_equal(dataset.window_frames(index), scenes.views[index])
        torch.testing.assert_close(dataset.window(index), chw(scenes.views[index]))
    median = view_median(torch.stack([dataset.window(index) for index in range(COUNT)]))
    assert median.shape == (COUNT, 3, SIZE, SIZE)
    batch = next(iter(make_loader(dataset, batch_size=COUNT, shuffle=False, num_workers=0, seed=0, fixed_k=3)))
    assert batch.views.shape == (COUNT, 3, 3, SIZE, SIZE) and batch.object_mask is not None


def test_training_items_take_three_frames_and_mirror_labels_with_them(reference: Path, tmp_path: Path) -> None:
    dataset = build_dataset("fusion_tabletop_arm", "train", as_training_split(reference / SPLIT, tmp_path))
    scenes = load_cache(tmp_path, "train", benchmark=ARM)
    frames, labels = chw(scenes.views[0]), torch.from_numpy(scenes.view_visible[0]).float()
    target, objects = chw(scenes.targets[0]), torch.from_numpy(scenes.target_mask[0])
    choices, flips = set(), set()
    for item, flipped in training_draws(dataset, target):
        assert item.object_mask is not None and torch.equal(item.object_mask, objects.flip(-1) if flipped else objects)
        candidates = frames.flip(-1) if flipped else frames
        picked = [next(j for j in range(FRAMES) if torch.equal(view, candidates[j])) for view in item.views]
        assert len(set(picked)) == 3
        expected = labels[picked].flip(-1) if flipped else labels[picked]
        torch.testing.assert_close(item.visibility, expected)  # each view keeps its own frame's label
        choices.add(tuple(picked))
        flips.add(flipped)
    assert flips == {False, True} and len(choices) > 3


def test_cli_renders_sequences_and_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["render", "--benchmark", "fusion_tabletop_arm", "--out", str(tmp_path), "--split", "train"]
    assert cli_main([*args, "--count", "1", "--image-size", "16", "--frames", "3"]) == 0
    out = capsys.readouterr().out
    assert "train: 1 sequences at 16x16; rendered 1 in" in out and "sequences/s with 1 worker(s)" in out
    assert len(build_dataset("fusion_tabletop_arm", "train", tmp_path)) == 1
    assert cli_main([*args, "--count", "1", "--frames", "2"]) == 2
    assert capsys.readouterr().err == "error: frames must be >= 3 (the views of an item), got 2\n"
    tabletop = ["render", "--out", str(tmp_path), "--split", "train", "--count", "1", "--frames", "4"]
    assert cli_main(tabletop) == 2
    assert capsys.readouterr().err == "error: --frames applies to fusion_tabletop_arm only, not fusion_tabletop\n"
    with pytest.raises(DatasetError, match=r"render --benchmark fusion_tabletop_arm --out data/fusion_tabletop_arm"):
        build_dataset("fusion_tabletop_arm", "test", None)


def test_preview_draws_the_eval_frames(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    arguments = ["--dataset", "fusion_tabletop_arm", "--data-root", str(reference), "--split", SPLIT, "--out", str(out)]
    assert preview_main(arguments) == 0
    assert cv2.imread(str(out)) is not None


def test_region_evaluation_adds_the_newest_frame_and_the_window_median(reference: Path) -> None:
    dataset = build_dataset("fusion_tabletop_arm", SPLIT, reference)
    settings = EvaluationSettings(batch_size=2, region_samples=2, chunk_size=2)
    results = evaluate_regions([], dataset, settings, torch.device("cpu"))
    scenes = load_cache(reference, SPLIT, benchmark=ARM)
    targets = chw(scenes.targets)
    median = view_median(chw(scenes.views))
    by_hand = float((median - targets).square().mean()) * 100
    assert find_value(results, "window median", "reference", MSE_MEAN, "whole", 2) == pytest.approx(by_hand, rel=1e-5)
    newest = torch.stack([dataset[index].views[0] for index in range(COUNT)])
    by_hand = float((newest - targets).square().mean()) * 100
    assert find_value(results, "newest frame", "reference", MSE_MEAN, "whole", 3) == pytest.approx(by_hand, rel=1e-5)
    assert find_value(results, "window median", "reference", MSE_MEAN, "object", 1) is not None
