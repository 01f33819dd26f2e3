"""Occluder cut-outs (the `occluders` recipe, FusionT-LESS generalised): loading them and composing views live.

Two folder layouts. The T-LESS tool's (`python -m fusionvae_core.data.tless_occluders`): `<dir>/occluders.json`,
`<dir>/train/<obj_id:06d>_<im_id>.png` and `<dir>/eval/…` — RGBA cut-outs scaled for the manifest's image size
(rescaled by image_size / that size for other model sizes), train and eval classes kept apart. Or any folder of
RGBA PNGs (alpha 0 outside the object, searched recursively): each is scaled so that its longest side is
`size` × the image side; with `train/` and `eval/` sub-folders those serve training and val/test, else all serve
every split. Each view gets 5–8 occluders (uniform), each randomly flipped, rotated, scaled and placed anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.tless import TLESS_EVAL_OCCLUDER_OBJECTS, TLESS_TRAIN_OCCLUDER_OBJECTS
from fusionvae_core.data.visibility import MadeViews
from fusionvae_core.data.warp import RandomWarp

OCCLUDER_PARTS = {"train": TLESS_TRAIN_OCCLUDER_OBJECTS, "eval": TLESS_EVAL_OCCLUDER_OBJECTS}
OCCLUDER_MANIFEST = "occluders.json"
OCCLUDER_COUNT_RANGE = (5, 8)
DEFAULT_OCCLUDER_SIZE = 0.5
_LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as cv2's RGB2GRAY
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


def tool_hint(occluder_dir: Path) -> str:
    """How to make T-LESS cut-outs into `occluder_dir`."""
    return f"`python -m fusionvae_core.data.tless_occluders --root BOP_ROOT --out {occluder_dir}`"


def read_manifest(path: Path) -> dict[str, object]:
    """The manifest the cut-out tool wrote at `path`; DatasetError if it is not a JSON object."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a readable occluder manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    return manifest


def read_cutout(path: Path) -> np.ndarray:
    """An RGBA PNG cut-out as uint8 [h,w,4] RGBA; DatasetError if it is unreadable or has no alpha channel."""
    bgra = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
        raise DatasetError(f"{path}: expected an RGBA PNG cut-out (alpha 0 outside the object)")
    if bgra.dtype != np.uint8:
        bgra = cv2.convertScaleAbs(bgra, alpha=1 / 257)
    return np.ascontiguousarray(bgra[:, :, [2, 1, 0, 3]])


def rescale(rgba: np.ndarray, factor: float) -> np.ndarray:
    """`rgba` scaled by `factor` (at least 1×1 pixel; INTER_AREA when shrinking)."""
    if factor == 1.0:
        return rgba
    height, width = rgba.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgba, size, interpolation=interpolation))


def load_occluders(
    occluder_dir: Path, part: str, image_size: int, size: float = DEFAULT_OCCLUDER_SIZE
) -> list[Occluder]:
    """The cut-outs of `part` ("train" or "eval") at `image_size` from either layout (module docstring).

    DatasetError for a missing folder, no cut-outs, a non-RGBA file or (T-LESS tool layout) a cut-out of the
    other part's classes.
    """
    if (occluder_dir / OCCLUDER_MANIFEST).is_file():
        return _load_tool_occluders(occluder_dir, part, image_size)
    if not occluder_dir.is_dir():
        raise DatasetError(
            f"{occluder_dir}: no occluder folder. Give a folder of RGBA PNG cut-outs, or make T-LESS ones once "
            f"with {tool_hint(occluder_dir)}."
        )
    base = occluder_dir / part if (occluder_dir / "train").is_dir() and (occluder_dir / "eval").is_dir() else None
    paths = sorted(p for p in (base or occluder_dir).rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not paths:
        raise DatasetError(
            f"{base or occluder_dir}: no occluder cut-outs (*.png with alpha); or make T-LESS ones with "
            f"{tool_hint(occluder_dir)}"
        )
    occluders = []
    for path in paths:
        rgba = read_cutout(path)
        occluders.append(Occluder(rescale(rgba, size * image_size / max(rgba.shape[:2])), -1))
    return occluders


def _load_tool_occluders(occluder_dir: Path, part: str, image_size: int) -> list[Occluder]:
    """Cut-outs written by the T-LESS tool, checked against the part's classes, rescaled to `image_size`."""
    manifest = read_manifest(occluder_dir / OCCLUDER_MANIFEST)
    made_for = manifest.get("image_size")
    if not isinstance(made_for, int) or made_for < 1:
        raise DatasetError(f"{occluder_dir / OCCLUDER_MANIFEST}: image_size must be a positive integer")
    allowed = set(OCCLUDER_PARTS[part])
    occluders = []
    for path in sorted((occluder_dir / part).glob("*.png")):
        obj_id = int(path.name.split("_", 1)[0]) if path.name[:6].isdigit() else -1
        if obj_id not in allowed:
            raise DatasetError(f"{path}: not an occluder of the {part} classes {sorted(allowed)}")
        occluders.append(Occluder(rescale(read_cutout(path), image_size / made_for), obj_id))
    if not occluders:
        raise DatasetError(f"{occluder_dir / part}: no occluder cut-outs (expected <obj_id>_<im_id>.png files)")
    return occluders


@dataclass(frozen=True)
class OccludedViews:
    """View maker of the `occluders` recipe: each view is the target with 5–8 random occluders pasted over it."""

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

    def __call__(self, target: np.ndarray, rng: np.random.Generator) -> MadeViews:
        """`num_views` independently occluded views [V,C,H,W] of `target` [C,H,W] (C = 3, or 1: grey) and their
        visibility [V,H,W]: the share of the target still showing through the pasted layers (1 - their alpha)."""
        views, visibility = [], []
        for _ in range(self.num_views):
            view = target.transpose(1, 2, 0).copy()
            shown = np.ones((*target.shape[1:], 1), dtype=np.float32)
            for layer in self.draw_layers(rng, target.shape[1]):
                alpha = layer[:, :, 3:]
                colour = layer[:, :, :3] if target.shape[0] == 3 else layer[:, :, :3] @ _LUMINANCE[:, None]
                view = view * (1.0 - alpha) + colour * alpha
                shown = shown * (1.0 - alpha)
            views.append(view.transpose(2, 0, 1))
            visibility.append(shown[:, :, 0])
        return MadeViews(np.stack(views).astype(np.float32), np.stack(visibility))
