"""ONNX export of the fusion_mnist preset: ONNX Runtime reproduces torch (same noise) for batch 1/4 and K = 1..3.

Slow: the dynamo export of the full fusion_mnist architecture takes ~30 s of CPU (random weights, same graph as
the shipped model).
"""

from __future__ import annotations

import pytest
from inference_helpers import assert_onnx_matches_torch, exported_model


@pytest.mark.slow
def test_onnxruntime_matches_torch_for_batch_and_view_counts() -> None:
    assert_onnx_matches_torch(exported_model("fusion_mnist"))
