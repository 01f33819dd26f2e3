"""FusionT-LESS occluders: loading the cut-outs made offline by `tless_occluders` and composing views live.

Occluder folder layout (written by `python -m fusionvae_core.data.tless_occluders`): `<dir>/occluders.json`,
`<dir>/train/<obj_id:06d>_<im_id>.png` and `<dir>/eval/…` — RGBA cut-outs already scaled like the 64×64
targets. Each view gets 5–8 occluders (uniform), each randomly flipped, rotated, scaled and placed anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.tless import TLESS_EVAL_OCCLUDER_OBJECTS, TLESS_TRAIN_OCCLUDER_OBJECTS
from fusionvae_core.data.warp import RandomWarp

OCCLUDER_PARTS = {"train": TLESS_TRAIN_OCCLUDER_OBJECTS, "eval": TLESS_EVAL_OCCLUDER_OBJECTS}
OCCLUDER_MANIFEST = "occluders.json"
OCCLUDER_COUNT_RANGE = (5, 8)
OCCLUDER_WARP = RandomWarp(
    flip_probability=0.5, max_rotation_deg=180.0, scale_low=0.5, scale_high=1.0, max_shift_fraction=0.5
)


@dataclass(frozen=True)
class Occluder:
    """One cut-out object: `rgba` uint8 [h,w,4] (alpha 0 outside the object) and the T-LESS `obj_id` it shows."""

    rgba: np.ndarray
    obj_id: int


def occluder_file_name(obj_id: int, image_path: Path) -> str:
    """File name of the cut-out of `image_path` (a T-LESS rgb image) of object `obj_id`."""
    return f"{obj_id:06d}_{image_path.stem}.png"


def occluder_part(split: str) -> str:
    """Occluder part of a dataset split: "train" for training, "eval" for val/test."""
    return "train" if split == "train" else "eval"


def read_manifest(occluder_dir: Path) -> dict[str, object]:
    """The manifest the cut-out tool wrote; DatasetError telling how to make it when missing."""
    path = occluder_dir / OCCLUDER_MANIFEST
    if not path.is_file():
        raise DatasetError(
            f"{occluder_dir}: no T-LESS occluder cut-outs ({OCCLUDER_MANIFEST} missing). Make them once with "
            f"`python -m fusionvae_core.data.tless_occluders --root BOP_ROOT --out {occluder_dir}`."
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a readable occluder manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    return manifest


def load_occluders(occluder_dir: Path, part: str, image_size: int) -> list[Occluder]:
    """All cut-outs of `part` ("train" or "eval"); DatasetError if missing, of the wrong scale or wrong classes."""
    manifest = read_manifest(occluder_dir)
    if manifest.get("image_size") != image_size:
        raise DatasetError(
            f"{occluder_dir / OCCLUDER_MANIFEST}: cut-outs were scaled for image_size {manifest.get('image_size')}, "
            f"this dataset needs {image_size}; rerun the tool with --image-size {image_size}"
        )
    allowed = set(OCCLUDER_PARTS[part])
    occluders = []
    for path in sorted((occluder_dir / part).glob("*.png")):
        obj_id = int(path.name.split("_", 1)[0]) if path.name[:6].isdigit() else -1
        if obj_id not in allowed:
            raise DatasetError(f"{path}: not an occluder of the {part} classes {sorted(allowed)}")
        rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise DatasetError(f"{path}: expected an RGBA PNG cut-out")
        occluders.append(Occluder(np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]]), obj_id))
    if not occluders:
        raise DatasetError(f"{occluder_dir / part}: no occluder cut-outs (expected <obj_id>_<im_id>.png files)")
    return occluders


@dataclass(frozen=True)
class OccludedViews:
    """View maker of FusionT-LESS: each view is the target with 5–8 random occluders pasted over it."""

    occluders: list[Occluder]
    num_views: int = 3
    count_range: tuple[int, int] = OCCLUDER_COUNT_RANGE
    warp: RandomWarp = OCCLUDER_WARP

    def draw_layers(self, rng: np.random.Generator, image_size: int) -> list[np.ndarray]:
        """Random occluder layers of one view: float32 RGBA canvases [H,W,4] in [0,1], bottom first."""
        count = int(rng.integers(self.count_range[0], self.count_range[1] + 1))
        picks = rng.integers(0, len(self.occluders), size=count)
        return [
            self.warp.apply(self.occluders[pick].rgba, rng, image_size).astype(np.float32) / 255.0 for pick in picks
        ]

    def __call__(self, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return `num_views` independently occluded views [V,3,H,W] of `target` [3,H,W]."""
        views = []
        for _ in range(self.num_views):
            view = target.transpose(1, 2, 0).copy()
            for layer in self.draw_layers(rng, target.shape[1]):
                alpha = layer[:, :, 3:]
                view = view * (1.0 - alpha) + layer[:, :, :3] * alpha
            views.append(view.transpose(2, 0, 1))
        return np.stack(views).astype(np.float32)
