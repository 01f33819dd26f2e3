"""Training configuration: YAML files -> validated frozen dataclasses, with `base:` inheritance and overrides.

A config file has the sections model, data, optim, budget, run and debug (all optional; defaults below). A file
may name `base: other.yaml` (relative to itself); the sections are merged key by key over the base (the model's
`overrides` mapping too). Unknown keys and wrongly typed values raise ConfigError naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fusionvae_core.baselines import BASELINE_KINDS
from fusionvae_core.config import ModelConfig
from fusionvae_core.data import DATASET_NAMES, SPLITS, dataset_options
from fusionvae_core.data.occlusion import OCCLUSION_RECIPES

MODEL_KINDS = ("fusionvae", *BASELINE_KINDS)
TRAIN_ONLY = ("visibility_head",)  # parts run.train_only can train on an otherwise frozen model
OVERRIDE_SOURCE = "--set"  # how error messages name command-line overrides
BUDGET_LENGTHS = ("epochs", "max_steps")  # exactly one of them gives the run's length


class ConfigError(ValueError):
    """A training config is invalid; the message names the file (or source) and the offending key."""


@dataclass(frozen=True)
class ModelSection:
    """Which network: `kind` (fusionvae or a baseline), a ModelConfig `preset` and field `overrides`."""

    kind: str = "fusionvae"
    preset: str = "fusion_mnist"
    image_size: int | None = None  # square size the model sees, e.g. 32, 64, 128 (None: the preset's)
    channels: int | None = None  # 1 (grey) or 3 (RGB) (None: the preset's)
    overrides: dict[str, Any] = field(default_factory=dict)

    def model_config(self) -> ModelConfig:
        """The FusionVAE config (for baselines: the one they are sized against)."""
        return ModelConfig.preset(self.preset, **{**self.overrides, **self.sizing()})

    def sizing(self) -> dict[str, int]:
        """image_size and channels where this section sets them."""
        return {key: value for key in ("image_size", "channels") if (value := getattr(self, key)) is not None}

    def size_problem(self) -> str | None:
        """Why `image_size` does not fit the preset's latent hierarchy (None: it fits or is not set)."""
        if self.image_size is None:
            return None
        try:
            hierarchy = ModelConfig.preset(self.preset, **{**self.overrides, "image_size": 1 << 12})
        except ValueError:
            return None  # another problem; model_config() names it
        halvings = hierarchy.num_preprocess_blocks + hierarchy.num_scales - 1
        if self.image_size % (1 << halvings) == 0:
            return None
        return (
            f"{self.image_size} does not fit preset {self.preset!r}: its latent hierarchy halves the image "
            f"{halvings} times, so the size must be a multiple of {1 << halvings} (e.g. 32, 64 or 128)"
        )


@dataclass(frozen=True)
class DataSection:
    """Dataset name, root (None: embedded/default), loader workers, evaluation split and optional subsets."""

    dataset: str = "fusion_mnist"
    data_root: str | None = None
    num_workers: int = 2
    eval_split: str = "val"
    train_items: int | None = None  # use only the first N training items (tests, smoke runs)
    eval_items: int | None = None  # use only the first N evaluation items
    occlusion: str | None = None  # ellipse_windows | occluders | none (None: the dataset's own recipe)
    occlusion_params: dict[str, Any] = field(default_factory=dict)  # {recipe: params}, see data/occlusion.py
    # Own data (image_folder, rosbag); None: the default named in fusionvae_core/data/own_data.py.
    resize: str | None = None  # resize | center_crop | random_crop (training; center_crop in evaluation)
    val_fraction: float | None = None
    test_fraction: float | None = None
    split_seed: int | None = None  # seeds the hashed split (not run.seed: every run shares one test set)
    cache_dir: str | None = None  # where dataset indexes are cached (None: ~/.cache/fusionvae_ros)
    topics: tuple[str, ...] | None = None  # rosbag: camera topics (None: every Image/CompressedImage topic)
    frame_stride: int | None = None  # rosbag: keep every N-th frame of each topic (None: 1)
    target_topic: str | None = None  # rosbag: clean images; then `topics` are recorded, already occluded views

    def dataset_options(self, model: ModelConfig) -> dict[str, Any]:
        """The build_dataset options this section sets (own data also gets the model's size and channels)."""
        values = {key: getattr(self, key) for key in _DATASET_OPTION_KEYS}
        options = {key: value for key, value in values.items() if value not in (None, {})}
        if "image_size" in dataset_options(self.dataset):
            options |= {"image_size": model.image_size, "channels": model.channels}
        return options


_DATASET_OPTION_KEYS = (
    "occlusion",
    "occlusion_params",
    "resize",
    "val_fraction",
    "test_fraction",
    "split_seed",
    "cache_dir",
    "topics",
    "frame_stride",
    "target_topic",
)


@dataclass(frozen=True)
class OptimSection:
    """AdaMax with a linear warm-up then cosine decay lr -> lr_min; gradient clipping and the skip guard."""

    lr: float = 1e-2
    lr_min: float = 1e-4
    warmup_steps: int = 100
    betas: tuple[float, ...] = (0.9, 0.999)
    weight_decay: float = 3e-4  # NVAE's AdaMax weight decay
    grad_clip: float | None = None  # clip the global gradient norm to this value (None: no clipping)
    skip_threshold: float | None = None  # skip updates whose gradient norm exceeds this (VDVAE); None: only NaN/Inf
    max_consecutive_skips: int = 100  # stop the run (exit 2) when this many updates in a row were skipped


@dataclass(frozen=True)
class BudgetSection:
    """Global batch size (split evenly across torchrun processes) and the length: epochs or max_steps."""

    batch_size: int = 64
    epochs: int | None = None
    max_steps: int | None = None


@dataclass(frozen=True)
class RunSection:
    """Seed, precision, compilation and the logging / evaluation / checkpoint intervals (in steps)."""

    seed: int = 0
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the model
    log_interval: int = 10
    eval_interval: int = 500
    eval_batches: int = 4
    ckpt_interval: int = 500
    grid_examples: int = 4  # examples per view count K in the TensorBoard sample grid
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights (fresh optimiser and schedule)
    train_only: str | None = None  # "visibility_head": train only that head on a frozen model (needs init_from)


@dataclass(frozen=True)
class DebugSection:
    """Test-only hooks: `nan_at_steps` turns the loss of these (0-based) steps into NaN to exercise the guard."""

    nan_at_steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """A complete, validated training configuration (see module docstring)."""

    name: str = "custom"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    budget: BudgetSection = field(default_factory=BudgetSection)
    run: RunSection = field(default_factory=RunSection)
    debug: DebugSection = field(default_factory=DebugSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of YAML-able values (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Validated config from a nested mapping; `source` names the origin in error messages."""
        values = _mapping(values, source, "")
        _reject_unknown(values, {f.name for f in dataclasses.fields(cls)}, source, "")
        sections: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "name":
                continue
            section_type = typing.get_type_hints(cls)[f.name]
            sections[f.name] = _build_section(section_type, values.get(f.name, {}), source, f.name)
        name = values.get("name", "custom")
        if not isinstance(name, str):
            raise ConfigError(f"{source}: name: expected a string, got {name!r}")
        config = cls(name=name, **sections)
        _check_values(config, source)
        return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (following `base:`), apply `section.key=value` overrides and validate.

    Overrides are checked on their own first, so a typo is blamed on ``--set``, not on the file. Setting one of
    budget.epochs / budget.max_steps by override replaces the file's other one (the length is one or the other).
    """
    path = Path(path)
    values = _read_with_bases(path, seen=())
    values.setdefault("name", path.stem)
    for item in overrides or []:
        apply_override(values, item, OVERRIDE_SOURCE)
    source = f"{path} with {OVERRIDE_SOURCE} {' '.join(overrides)}" if overrides else str(path)
    return TrainConfig.from_dict(values, source=source)


def apply_override(values: dict[str, Any], item: str, source: str) -> None:
    """Set `section.key=value` (value parsed as YAML, key and type checked) in a nested config mapping, in place."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    label = f"{source} {item!r}"
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(f"{label}: expected section.key=value, e.g. budget.max_steps=100")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ConfigError(f"{label}: value is not valid YAML ({' '.join(str(error).split())})") from None
    section, name = parts[0], parts[1]
    hints = typing.get_type_hints(TrainConfig)
    if section not in hints or section == "name":
        raise ConfigError(f"{label}: unknown section {section!r}; sections: {sorted(set(hints) - {'name'})}")
    fields = typing.get_type_hints(hints[section])
    if name not in fields:
        raise ConfigError(f"{label}: unknown key {section}.{name}; valid keys in {section}: {sorted(fields)}")
    if len(parts) == 2:
        _check_type(value, fields[name], label, key.strip())
    elif typing.get_origin(fields[name]) is not dict:
        raise ConfigError(f"{label}: {section}.{name} is not a mapping")
    target = values
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{label}: {part} is not a section")
    target[parts[-1]] = value
    if section == "budget" and name in BUDGET_LENGTHS and value is not None:
        other = next(length for length in BUDGET_LENGTHS if length != name)
        target[other] = None  # the run's length is given by the override, not by the file's other setting


def stored_data(train_state: dict[str, Any], source: str) -> tuple[str, str | None, dict[str, Any]] | None:
    """(dataset, data_root, build_dataset options) of the run that wrote a checkpoint's training state, so
    evaluation sees the same data (own data: same split, size, topics); None when it holds no training config."""
    values = train_state.get("config")
    if not isinstance(values, dict):
        return None
    config = TrainConfig.from_dict(values, source=source)
    return config.data.dataset, config.data.data_root, config.data.dataset_options(config.model.model_config())


def config_differences(first: TrainConfig, second: TrainConfig) -> list[str]:
    """Dotted keys whose values differ between two configs (for resume checks)."""
    a, b = _flatten(first.to_dict()), _flatten(second.to_dict())
    return sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))


# ------------------------------------------------------------------------------------------------- internals
def _read_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Load `path` and merge it over its `base:` chain."""
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"{path}: `base:` chain loops back to this file")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    values = _mapping(values, str(path), "")
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: expected a file name, got {base!r}")
    merged = _read_with_bases(path.parent / base, (*seen, resolved))
    merged.pop("name", None)
    return _merge(merged, values)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge key by key, other values replace."""
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _mapping(values: Any, source: str, where: str) -> dict[str, Any]:
    """`values` if it is a mapping with string keys, else ConfigError."""
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        label = f"section {where!r}" if where else "top level"
        raise ConfigError(f"{source}: {label}: expected a mapping of keys to values, got {type(values).__name__}")
    return values


def _reject_unknown(values: dict[str, Any], known: set[str], source: str, where: str) -> None:
    """ConfigError naming the first unknown key and listing the valid ones."""
    unknown = sorted(set(values) - known)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"{source}: unknown key {key!r}; valid keys{' in ' + where if where else ''}: {sorted(known)}"
        )


def _build_section(section_type: Any, values: Any, source: str, where: str) -> Any:
    """Instantiate a section dataclass from a mapping, checking keys and value types."""
    values = _mapping(values if values is not None else {}, source, where)
    hints = typing.get_type_hints(section_type)
    _reject_unknown(values, set(hints), source, where)
    checked = {key: _check_type(value, hints[key], source, f"{where}.{key}") for key, value in values.items()}
    return section_type(**checked)


def _check_type(value: Any, expected: Any, source: str, key: str) -> Any:
    """Return `value` converted to the field type (lists -> tuples, int -> float) or raise ConfigError."""
    options = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    for option in options:
        ok, converted = _convert(value, option)
        if ok:
            return converted
    raise ConfigError(f"{source}: {key}: expected {_type_name(expected)}, got {value!r}")


_YAML11_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _convert(value: Any, option: Any) -> tuple[bool, Any]:
    """(True, converted value) if `value` fits the type `option`, else (False, None)."""
    if option is type(None):
        return value is None, None
    if option is bool:
        return isinstance(value, bool), value
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if option is float:
        if isinstance(value, str) and _YAML11_EXPONENT_NUMBER.fullmatch(value.strip()):
            return True, float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; every user means the number
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if option is str:
        return isinstance(value, str), value
    origin = typing.get_origin(option)
    if origin is tuple:
        (item_type, _) = typing.get_args(option)
        if not isinstance(value, list | tuple):
            return False, None
        items = [_convert(item, item_type) for item in value]
        return all(ok for ok, _ in items), tuple(item for _, item in items)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value), value
    raise TypeError(f"unsupported config field type {option!r}")


def _type_name(expected: Any) -> str:
    """Readable name of a field type for error messages."""
    names = {int: "an integer", float: "a number", bool: "true/false", str: "a string", type(None): "null"}
    options = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    parts = [names.get(option, "a list" if typing.get_origin(option) is tuple else "a mapping") for option in options]
    return " or ".join(parts)


def _check_values(config: TrainConfig, source: str) -> None:
    """Range and consistency checks that the types alone cannot express."""

    def fail(key: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"{source}: {key}: {message}")

    if config.model.kind not in MODEL_KINDS:
        fail("model.kind", f"expected one of {MODEL_KINDS}, got {config.model.kind!r}")
    if config.model.channels not in (None, 1, 3):
        fail("model.channels", f"expected 1 (grey) or 3 (RGB), got {config.model.channels}")
    size_problem = config.model.size_problem()
    if size_problem is not None:
        fail("model.image_size", size_problem)
    try:
        config.model.model_config()
    except ValueError as error:
        fail("model", str(error))
    if config.data.dataset not in DATASET_NAMES:
        fail("data.dataset", f"expected one of {DATASET_NAMES}, got {config.data.dataset!r}")
    unused = set(config.data.dataset_options(config.model.model_config())) - dataset_options(config.data.dataset)
    if unused:
        fail(f"data.{sorted(unused)[0]}", f"is not an option of dataset {config.data.dataset}")
    if config.data.occlusion is not None and config.data.occlusion not in OCCLUSION_RECIPES:
        fail("data.occlusion", f"expected one of {OCCLUSION_RECIPES}, got {config.data.occlusion!r}")
    if config.data.eval_split not in SPLITS:
        fail("data.eval_split", f"expected one of {SPLITS}, got {config.data.eval_split!r}")
    positive = {
        "data.train_items": config.data.train_items,
        "data.eval_items": config.data.eval_items,
        "budget.batch_size": config.budget.batch_size,
        "budget.epochs": config.budget.epochs,
        "budget.max_steps": config.budget.max_steps,
        "run.log_interval": config.run.log_interval,
        "run.eval_interval": config.run.eval_interval,
        "run.eval_batches": config.run.eval_batches,
        "run.ckpt_interval": config.run.ckpt_interval,
        "run.grid_examples": config.run.grid_examples,
        "optim.lr": config.optim.lr,
        "optim.lr_min": config.optim.lr_min,
        "optim.grad_clip": config.optim.grad_clip,
        "optim.skip_threshold": config.optim.skip_threshold,
        "optim.max_consecutive_skips": config.optim.max_consecutive_skips,
    }
    for key, value in positive.items():
        if value is not None and value <= 0:
            fail(key, f"must be > 0, got {value}")
    if config.data.num_workers < 0:
        fail("data.num_workers", f"must be >= 0, got {config.data.num_workers}")
    if config.optim.warmup_steps < 0:
        fail("optim.warmup_steps", f"must be >= 0, got {config.optim.warmup_steps}")
    if config.optim.lr_min > config.optim.lr:
        fail("optim.lr_min", f"must not exceed optim.lr ({config.optim.lr}), got {config.optim.lr_min}")
    if len(config.optim.betas) != 2 or not all(0.0 <= b < 1.0 for b in config.optim.betas):
        fail("optim.betas", f"expected two numbers in [0, 1), got {list(config.optim.betas)}")
    if config.optim.weight_decay < 0:
        fail("optim.weight_decay", f"must be >= 0, got {config.optim.weight_decay}")
    if (config.budget.epochs is None) == (config.budget.max_steps is None):
        fail("budget", "set exactly one of epochs and max_steps (on the command line: --set budget.max_steps=N)")
    if config.run.train_only is not None:
        if config.run.train_only not in TRAIN_ONLY:
            fail("run.train_only", f"expected one of {', '.join(TRAIN_ONLY)} (or null), got {config.run.train_only!r}")
        if config.run.init_from is None:
            fail("run.train_only", "trains one part of a trained model: set run.init_from to its checkpoint")
        if not config.model.model_config().visibility_head:
            fail("run.train_only", "the model has no visibility head: set model.overrides.visibility_head=true")
    if any(step < 0 for step in config.debug.nan_at_steps):
        fail("debug.nan_at_steps", f"steps are 0-based and >= 0, got {list(config.debug.nan_at_steps)}")


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively (YAML/JSON-friendly)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {dotted.key: value}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
