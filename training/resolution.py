"""Fine-tune and serve at another input resolution: fewer patches, fewer tokens, faster serving.

A ViT's cost grows with its token count, (side / patch size)² + 1: 257 tokens at 224 px with
14 px patches, 101 at 140 px. ``python -m training --resolution PX`` fine-tunes at PX × PX::

    model, processor = at_resolution(model, processor, 140)

The image processor then crops PX × PX and resizes in the same proportion as before (the
packaged base: shortest edge 256 → 160, crop 224 → 140), so training, evaluation, the ONNX
export and every server read the new size from the saved ``preprocessor_config.json``.
Dinov2 resizes its position embeddings to the input on every call; ViT's table is sized by
``config.image_size``, so it is resized once here (bicubic, as ViT's own interpolation does)
and saved that way, which stock ``pipeline()`` loads as-is.
"""

from __future__ import annotations

import torch

from cleanmessy.errors import CleanMessyError
from cleanmessy.model_files import geometry, size_entries

INTERPOLATING = frozenset({"dinov2", "dinov2_with_registers"})
"""Model types that resize their position embeddings to the input on every forward pass."""

RESIZED = frozenset({"vit"})
"""Model types whose position-embedding table is sized by ``config.image_size``: resized by :func:`at_resolution`."""


class ResolutionError(CleanMessyError, ValueError):
    """The model or its image processor cannot be fine-tuned at the requested resolution."""


def patch_size(config) -> int:
    """The model's square patch side in pixels."""
    patch = config.patch_size
    if isinstance(patch, (tuple, list)):
        if patch[0] != patch[1]:
            raise ResolutionError(f"--resolution needs square patches, the base model has {patch[0]}×{patch[1]}")
        patch = patch[0]
    return int(patch)


def check_resolution(config, resolution: int) -> None:
    """Raise :class:`ResolutionError` unless a model with ``config`` can run at ``resolution`` × ``resolution``."""
    if config.model_type not in INTERPOLATING | RESIZED:
        raise ResolutionError(f"--resolution supports Dinov2 and ViT base models, not {config.model_type!r}")
    patch = patch_size(config)
    if resolution <= 0 or resolution % patch:
        lower = max(patch, resolution // patch * patch)
        raise ResolutionError(f"--resolution {resolution} is not a multiple of the base model's patch size "
                              f"{patch}: try {lower} or {lower + patch}")


def input_size(processor) -> tuple[int, int]:
    """``(height, width)`` of the inputs ``processor`` makes: its centre crop, else its fixed resize."""
    shape = geometry(processor)
    if shape is None or shape.input_size is None:
        raise ResolutionError("--resolution needs an image processor with a centre crop or a fixed height and "
                              f"width; this one has size {size_entries(processor.size)} and no crop")
    return shape.input_size


def processor_at(processor, resolution: int):
    """A copy of ``processor`` that makes ``resolution`` px squares, resizing in the same proportion as before.

    With a centre crop, every ``size`` entry scales by ``resolution / crop height``
    (``shortest_edge`` 256 with crop 224 → 160 with crop 140); without one, the fixed
    ``size`` becomes ``resolution`` × ``resolution``.
    """
    height, width = input_size(processor)
    if height != width:
        raise ResolutionError(f"--resolution makes square inputs; this image processor makes {height}×{width}")
    changes = {"size": {key: round(resolution * value / height) for key, value in size_entries(processor.size).items()}}
    if getattr(processor, "do_center_crop", False):
        changes["crop_size"] = {"height": resolution, "width": resolution}
    return type(processor).from_dict(processor.to_dict(), **changes)


def resize_position_embeddings(model: torch.nn.Module, resolution: int) -> None:
    """Resize a ViT's position-embedding table to a ``resolution`` px input, in place, and record it in the config.

    The patch-position grid is resized bicubically by the model's own ``interpolate_pos_encoding``
    (what ``interpolate_pos_encoding=True`` would do on every call); the class token keeps its row.
    """
    embeddings = model.base_model.embeddings
    patches = (resolution // patch_size(model.config)) ** 2
    table = embeddings.position_embeddings
    with torch.no_grad():
        resized = embeddings.interpolate_pos_encoding(table.new_zeros(1, patches + 1, table.shape[-1]),
                                                      resolution, resolution)
    embeddings.position_embeddings = torch.nn.Parameter(resized.detach().clone())
    embeddings.image_size = embeddings.patch_embeddings.image_size = (resolution, resolution)
    embeddings.patch_embeddings.num_patches = patches
    model.config.image_size = resolution


def at_resolution(model: torch.nn.Module, processor, resolution: int):
    """``(model, processor)`` ready to fine-tune at ``resolution`` × ``resolution`` px (the model is changed in place)."""
    check_resolution(model.config, resolution)
    scaled = processor_at(processor, resolution)
    if model.config.model_type in RESIZED:
        resize_position_embeddings(model, resolution)
    return model, scaled


def describe(processor, config) -> str:
    """The input resolution for the model card and logs, e.g. ``140 × 140 px (10 × 10 patches of 14 px)``."""
    try:
        height, width = input_size(processor)
    except ResolutionError:
        return f"varies: resized to {size_entries(processor.size)}, not cropped"
    if getattr(config, "patch_size", None) is None:
        return f"{height} × {width} px"
    patch = patch_size(config)
    return f"{height} × {width} px ({height // patch} × {width // patch} patches of {patch} px)"
