"""The fp32 ONNX graph: ``pixel_values (N, 3, H, W) -> logits (N, 2)`` [and ``not_a_room (N,)``], position embeddings baked in."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator

import torch

from cleanmessy.backends import ONNX_GATE_OUTPUT, ONNX_INPUT, ONNX_OUTPUT, classifier_inputs
from cleanmessy.gate import NotARoomGate

OPSET = 17


class LogitsOnly(torch.nn.Module):
    """``pixel_values -> logits``: the transformers model without its output dataclass."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


class LogitsAndGate(torch.nn.Module):
    """``pixel_values -> (logits, not_a_room)``: the gate reads the classifier's input in the same pass."""

    def __init__(self, model: torch.nn.Module, gate: NotARoomGate) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("gate_weights", torch.tensor(list(gate.weights), dtype=torch.float32))
        self.register_buffer("gate_bias", torch.tensor(float(gate.bias), dtype=torch.float32))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with classifier_inputs(self.model) as captured:
            logits = self.model(pixel_values=pixel_values).logits
        cls = captured[0][:, : self.gate_weights.shape[0]]
        cls = cls / cls.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return logits, torch.sigmoid(cls @ self.gate_weights + self.gate_bias)


@contextlib.contextmanager
def fixed_position_embeddings(model: torch.nn.Module, input_size: tuple[int, int]) -> Iterator[None]:
    """Within the block, ``model`` adds precomputed position embeddings for ``input_size`` instead of
    interpolating them on every call.

    Dinov2 stores 37×37 positions (518 px) and resizes them bicubically to the input's patch grid
    in every forward pass; traced into ONNX that becomes a ``Resize`` node that onnxruntime runs
    on every request (about a quarter of the int8 model's time). The exported graph has a fixed
    input size, so the resized table is a constant: computed here once, with PyTorch's own code.
    """
    embeddings = getattr(model.base_model, "embeddings", None)
    interpolate = getattr(embeddings, "interpolate_pos_encoding", None)
    table = getattr(embeddings, "position_embeddings", None)
    if not callable(interpolate) or not isinstance(table, torch.Tensor):
        yield
        return
    patch = model.config.patch_size
    patch_height, patch_width = patch if isinstance(patch, (tuple, list)) else (patch, patch)
    tokens = (input_size[0] // patch_height) * (input_size[1] // patch_width) + 1
    with torch.no_grad():
        fixed = interpolate(torch.zeros(1, tokens, table.shape[-1], dtype=table.dtype), *input_size).detach().clone()
    embeddings.interpolate_pos_encoding = lambda _embeddings, _height, _width: fixed
    try:
        yield
    finally:
        del embeddings.interpolate_pos_encoding


def export_fp32(
    model: torch.nn.Module,
    path: Path,
    input_size: tuple[int, int],
    opset: int = OPSET,
    bake_positions: bool = True,
    gate: NotARoomGate | None = None,
) -> None:
    """Write ``model`` as an fp32 ONNX graph ``pixel_values (N,3,H,W) -> logits (N,2)`` with a dynamic batch,
    plus ``not_a_room (N,)`` when ``gate`` is given.

    Uses the TorchScript exporter (``dynamo=False``): with torch 2.13 it exports Dinov2 with no
    extra package and matches PyTorch to ~1e-6. (The dynamo exporter needs ``onnxscript``.)
    Position embeddings are baked in for ``input_size`` (see :func:`fixed_position_embeddings`);
    ``bake_positions=False`` keeps the per-call interpolation (only ``bench.knobs`` wants that).
    """
    dummy = torch.zeros(1, 3, *input_size)
    baked = fixed_position_embeddings(model, input_size) if bake_positions else contextlib.nullcontext()
    graph = LogitsOnly(model.eval()) if gate is None else LogitsAndGate(model.eval(), gate)
    outputs = [ONNX_OUTPUT] if gate is None else [ONNX_OUTPUT, ONNX_GATE_OUTPUT]
    with warnings.catch_warnings(), baked:
        warnings.simplefilter("ignore")  # TracerWarnings about Python bools and the legacy-exporter notice
        torch.onnx.export(
            graph,
            (dummy,),
            str(path),
            dynamo=False,
            input_names=[ONNX_INPUT],
            output_names=outputs,
            dynamic_axes={name: {0: "batch_size"} for name in (ONNX_INPUT, *outputs)},
            opset_version=opset,
            do_constant_folding=True,
        )
