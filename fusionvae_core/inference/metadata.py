"""The exported sampler's interface: graph input/output names and the metadata every model file carries.

An exported FusionVAE sampler has inputs ``views`` float [B, K, C, H, W] in [0, 1], ``temperature`` (0-d float,
scales the priors' σ) and ``noise_<l>`` float [B·S, C_l, h_l, w_l] (one standard-normal tensor per latent group,
coarse -> fine, row b·S + s for example b, sample s), and the output ``images`` float [B, S, C, H, W]: the
likelihood means, i.e. pixel probabilities in [0, 1]. Models with a visibility head have a second output
``visibility`` float [B, K, H, W]: p(view k shows the scene at each pixel). Files without the metadata fields
``visibility`` / ``compositing`` (exported before the head existed) read as having neither. Pure Python (no torch,
no onnx): the backends read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fusionvae_core.inference.errors import BackendError

FORMAT_TAG = "fusionvae_ros/onnx-sampler"
EXPORTER_VERSION = 2  # 2: NVAE latent layout (most groups at the finest scale) and the recommended temperature

VIEWS_INPUT = "views"
TEMPERATURE_INPUT = "temperature"
IMAGES_OUTPUT = "images"
VISIBILITY_OUTPUT = "visibility"

#: A graph dimension as the runtimes report it: a fixed size, or a symbolic name / None when dynamic.
Dim = int | str | None


def noise_input_name(group: int) -> str:
    """Name of the graph input carrying the noise of latent group `group` (0 = coarsest)."""
    return f"noise_{group}"


@dataclass(frozen=True)
class ModelMetadata:
    """What a backend must know about an exported model; stored as string ``metadata_props`` in the ONNX file."""

    preset: str
    image_size: int
    channels: int
    likelihood: str
    max_views: int
    latent_shapes: tuple[tuple[int, int, int], ...]
    source_checkpoint_sha256: str
    num_samples_hint: int
    model_config: Mapping[str, Any]
    temperature: float = 1.0  # recommended sampling temperature (the validation-best of a shipped model)
    exporter_version: int = EXPORTER_VERSION
    visibility: bool = False  # the graph has the `visibility` output (the model has a visibility head)
    compositing: bool = False  # whether compositing helped this model on validation (ship_model.py): the default

    def to_props(self) -> dict[str, str]:
        """The metadata as ONNX ``metadata_props`` (string keys and values)."""
        return {
            "format": FORMAT_TAG,
            "exporter_version": str(self.exporter_version),
            "preset": self.preset,
            "image_size": str(self.image_size),
            "channels": str(self.channels),
            "likelihood": self.likelihood,
            "max_views": str(self.max_views),
            "latent_shapes": json.dumps([list(shape) for shape in self.latent_shapes]),
            "source_checkpoint_sha256": self.source_checkpoint_sha256,
            "num_samples_hint": str(self.num_samples_hint),
            "model_config": json.dumps(dict(self.model_config), sort_keys=True),
            "temperature": repr(float(self.temperature)),
            "visibility": _BOOLEAN_TEXT[self.visibility],
            "compositing": _BOOLEAN_TEXT[self.compositing],
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str) -> ModelMetadata:
        """Parse ``metadata_props``; raise BackendError naming `source` when they are missing or malformed."""
        if props.get("format") != FORMAT_TAG:
            raise BackendError(
                f"model file {source}: ONNX file without fusionvae_ros metadata (metadata 'format' is "
                f"{props.get('format')!r}, expected {FORMAT_TAG!r}); export it with training/export.py"
            )
        try:
            version = int(props["exporter_version"])
            if version != EXPORTER_VERSION:
                raise BackendError(
                    f"model file {source}: exported by exporter version {version}, this code reads version "
                    f"{EXPORTER_VERSION}; re-export it with training/export.py"
                )
            return cls(
                preset=props["preset"],
                image_size=int(props["image_size"]),
                channels=int(props["channels"]),
                likelihood=props["likelihood"],
                max_views=int(props["max_views"]),
                latent_shapes=_parse_latent_shapes(props["latent_shapes"]),
                source_checkpoint_sha256=props["source_checkpoint_sha256"],
                num_samples_hint=int(props["num_samples_hint"]),
                model_config=json.loads(props["model_config"]),
                temperature=_parse_temperature(props["temperature"]),
                exporter_version=version,
                visibility=_parse_boolean("visibility", props.get("visibility", "false")),
                compositing=_parse_boolean("compositing", props.get("compositing", "false")),
            )
        except KeyError as missing:
            raise BackendError(f"model file {source}: metadata field {missing.args[0]!r} is missing") from None
        except (ValueError, TypeError) as error:
            raise BackendError(f"model file {source}: malformed metadata: {error}") from None

    def expected_inputs(self) -> dict[str, tuple[Dim, ...]]:
        """Graph inputs with their shapes (None = dynamic dimension)."""
        inputs: dict[str, tuple[Dim, ...]] = {
            VIEWS_INPUT: (None, None, self.channels, self.image_size, self.image_size),
            TEMPERATURE_INPUT: (),
        }
        for group, shape in enumerate(self.latent_shapes):
            inputs[noise_input_name(group)] = (None, *shape)
        return inputs

    def expected_outputs(self) -> dict[str, tuple[Dim, ...]]:
        """Graph outputs with their shapes (None = dynamic dimension), in the graph's order."""
        outputs: dict[str, tuple[Dim, ...]] = {
            IMAGES_OUTPUT: (None, None, self.channels, self.image_size, self.image_size)
        }
        if self.visibility:
            outputs[VISIBILITY_OUTPUT] = (None, None, self.image_size, self.image_size)
        return outputs


def checked_temperature(value: object) -> float:
    """`value` as a recommended sampling temperature: a finite number > 0 (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return float(value)


_BOOLEAN_TEXT = {True: "true", False: "false"}


def _parse_boolean(name: str, text: str) -> bool:
    """A boolean metadata field written as 'true' / 'false'."""
    if text not in ("true", "false"):
        raise ValueError(f"{name} must be 'true' or 'false', got {text!r}")
    return text == "true"


def _parse_temperature(text: str) -> float:
    """The recommended temperature stored as text in the ONNX metadata."""
    return checked_temperature(float(text))


def _parse_latent_shapes(text: str) -> tuple[tuple[int, int, int], ...]:
    """Parse the JSON list of [C, h, w] latent shapes."""
    shapes = json.loads(text)
    if not isinstance(shapes, list) or not shapes:
        raise ValueError(f"latent_shapes must be a non-empty list, got {text!r}")
    parsed = []
    for shape in shapes:
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)):
            raise ValueError(f"latent_shapes entries must be [C, h, w] positive integers, got {shape!r}")
        parsed.append((shape[0], shape[1], shape[2]))
    return tuple(parsed)


def check_graph_signature(
    metadata: ModelMetadata,
    inputs: Mapping[str, Sequence[Dim]],
    outputs: Mapping[str, Sequence[Dim]],
    source: str,
) -> None:
    """Raise BackendError unless the graph's inputs/outputs match what its metadata promises.

    `inputs`/`outputs` map names to shapes as a runtime reports them; symbolic dimensions (str/None) match
    anything, fixed ones must equal the metadata's sizes.
    """
    for kind, expected_all, actual_all in (
        ("input", metadata.expected_inputs(), inputs),
        ("output", metadata.expected_outputs(), outputs),
    ):
        if set(actual_all) != set(expected_all):
            raise BackendError(
                f"model file {source}: graph {kind}s are {sorted(actual_all)}, expected {sorted(expected_all)}"
            )
        for name, expected in expected_all.items():
            actual = tuple(actual_all[name])
            if len(actual) != len(expected) or any(
                isinstance(want, int) and isinstance(got, int) and want != got for want, got in zip(expected, actual)
            ):
                needed = [size if size is not None else "?" for size in expected]
                raise BackendError(
                    f"model file {source}: graph {kind} {name!r} has shape {list(actual)}, but the model's metadata "
                    f"(image_size={metadata.image_size}, channels={metadata.channels}, latent_shapes="
                    f"{[list(s) for s in metadata.latent_shapes]}) needs {needed}"
                )
