"""Fine-tune an image classifier on clean/messy with the transformers ``Trainer``.

The recipe (chosen by repeated cross-validation, ``bench/recipe_cv.py``; numbers in BENCHMARKS.md):

1. **Linear probe first** (LP-FT, Kumar et al. 2022): the clean/messy head is fitted by logistic
   regression on the frozen base's features of the (unaugmented) training photos, so fine-tuning
   starts from a sensible head instead of a random one. A random head sends large gradients
   into the pretrained backbone in the first steps; that is what made the old recipe collapse
   to chance at epoch 2 (gradient norm 211). It also keeps the base's features closer to what
   they were, which a "not a room" check on the embedding relies on.
2. **Layer-wise learning-rate decay**: the top block and the head learn at ``learning_rate``, each
   block below at ``layer_decay`` times the one above, the patch embedding at the lowest rate.
3. **The whole photo**, resized to ``resolution`` × ``resolution`` with aspect jitter in the
   augmentation (see :mod:`training.augment` and :mod:`training.resolution`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict, IterableDataset
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

from cleanmessy.images import load_image
from cleanmessy.labels import ID2LABEL, LABEL2ID
from cleanmessy.preprocess import Preprocessor
from training.augment import augment
from training.data import encoded
from training.resolution import at_resolution, input_size, processor_at

logger = logging.getLogger(__name__)

LINEAR_PROBE_SAMPLE = 1024
"""Photos of a streamed train split the linear probe reads (a map-style split is read whole)."""


@dataclass
class Hyperparameters:
    """What the Trainer needs besides the data; defaults are the cross-validated recipe for ViT-S on ~200 photos."""

    epochs: float = 5
    learning_rate: float = 3e-5  # the head's and the top block's; lower blocks get less (layer_decay)
    batch_size: int = 16
    weight_decay: float = 0.05
    warmup_ratio: float = 0.1
    seed: int = 0
    resolution: int | None = None  # input side in px; None keeps the base image processor's (224 px today)
    layer_decay: float = 0.75  # learning-rate factor per block going down; 1.0: one rate for every weight
    linear_probe: bool = True  # fit the head on frozen features before fine-tuning (LP-FT)
    whole_frame: bool = True  # resize the whole photo to a square; False: the old resize + centre crop
    max_steps: int | None = None  # optimiser steps for a streamed train split, which has no length


def load_base(base: str, resolution: int | None = None, whole_frame: bool = True):
    """``(model, image_processor)`` from a Hub id or local dir, with a fresh clean/messy head if needed.

    With ``resolution``, both are set up for ``resolution`` × ``resolution`` px inputs
    (see :func:`training.resolution.at_resolution`). ``whole_frame``: the processor resizes
    the whole photo to a square instead of centre-cropping it.
    """
    model = AutoModelForImageClassification.from_pretrained(
        base,
        num_labels=len(ID2LABEL),
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
        ignore_mismatched_sizes=True,
    )
    processor = AutoImageProcessor.from_pretrained(base)
    if resolution is None:
        return model, (processor_at(processor, input_size(processor)[0]) if whole_frame else processor)
    return at_resolution(model, processor, resolution, whole_frame)


def make_transform(preprocess: Preprocessor, train: bool, aspect: bool = True):
    """A ``set_transform`` function: undecoded images -> checked RGB (-> augmented) -> pixel tensors."""

    def transform(batch: dict) -> dict:
        images = [load_image(encoded(image)) for image in batch["image"]]
        if train:
            images = [augment(image, aspect=aspect) for image in images]
        return {"pixel_values": torch.from_numpy(preprocess(images)), "labels": batch["label"]}

    return transform


def collate(examples: list[dict]) -> dict:
    """Stack single examples into a batch."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples]),
    }


def accuracy(prediction) -> dict:
    """Validation accuracy for the Trainer's per-epoch log."""
    return {"accuracy": float((np.argmax(prediction.predictions, axis=1) == prediction.label_ids).mean())}


@torch.no_grad()
def head_inputs(model: torch.nn.Module, pixels: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """What ``model.classifier`` receives for ``pixels`` (Dinov2: CLS + mean patch token; ViT: CLS)."""
    captured: list[torch.Tensor] = []
    hook = model.classifier.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    try:
        model.eval()
        for start in range(0, len(pixels), batch_size):
            model(pixel_values=pixels[start:start + batch_size])
    finally:
        hook.remove()
    features = torch.cat(captured)
    return features[:, 0] if features.dim() == 3 else features  # ViT hands the whole sequence to its head


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_labels: int,
                     l2: float = 1e-2, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression ``(weight, bias)`` with an L2 penalty, fitted by L-BFGS from zero."""
    weight = torch.zeros(num_labels, features.shape[1], requires_grad=True)
    bias = torch.zeros(num_labels, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(features @ weight.T + bias, labels) + l2 / 2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(model: torch.nn.Module, preprocess: Preprocessor, split: Dataset | IterableDataset) -> None:
    """Fit ``model.classifier`` in place on the frozen model's features of ``split`` (no augmentation)."""
    examples = list(split)
    pixels = torch.from_numpy(preprocess([load_image(encoded(example["image"])) for example in examples]))
    features = head_inputs(model, pixels)
    labels = torch.tensor([example["label"] for example in examples])
    weight, bias = fit_linear_probe(features, labels, model.config.num_labels)
    with torch.no_grad():
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(bias)


def layer_of(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise decay: 0 for the embeddings, i + 1 for block i, the top for the rest."""
    block = re.search(r"encoder\.layers?\.(\d+)\.", name)
    if block:
        return int(block.group(1)) + 1
    if ".embeddings." in f".{name}":
        return 0
    return num_layers + 1


def parameter_groups(model: torch.nn.Module, params: Hyperparameters) -> list[dict]:
    """AdamW groups: learning rate decayed by ``layer_decay`` per block down; no weight decay on biases and norms."""
    num_layers = model.config.num_hidden_layers
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        depth = layer_of(name, num_layers)
        decays = parameter.ndim >= 2 and "position_embeddings" not in name and "cls_token" not in name
        group = groups.setdefault((depth, decays), {
            "params": [],
            "lr": params.learning_rate * params.layer_decay ** (num_layers + 1 - depth),
            "weight_decay": params.weight_decay if decays else 0.0,
        })
        group["params"].append(parameter)
    return list(groups.values())


def finetune(
    splits: DatasetDict, base: str, output_dir: Path, params: Hyperparameters
) -> tuple[torch.nn.Module, object, list[dict]]:
    """Train on ``splits['train']``, evaluating each epoch on ``splits['validation']``.

    Returns the trained model, its image processor and the Trainer's log history.
    Nothing is written to ``output_dir`` but scratch files under ``output_dir/checkpoints``.
    """
    set_seed(params.seed)
    model, processor = load_base(base, params.resolution, params.whole_frame)
    preprocess = Preprocessor(processor)
    streaming = isinstance(splits["train"], IterableDataset)
    if params.linear_probe:  # a streamed split is probed on its first LINEAR_PROBE_SAMPLE photos
        linear_probe(model, preprocess, splits["train"].take(LINEAR_PROBE_SAMPLE) if streaming else splits["train"])
    transform = make_transform(preprocess, train=True, aspect=params.whole_frame)
    if streaming:  # decoded and augmented on the fly, batch by batch, as the stream arrives
        if not params.max_steps:
            raise ValueError("a streamed train split needs Hyperparameters.max_steps")
        train = splits["train"].map(transform, batched=True, batch_size=params.batch_size,
                                    remove_columns=["image", "label"])
        steps_per_epoch = max(1, int(params.max_steps // params.epochs))
    else:
        train = splits["train"].with_transform(transform)
        steps_per_epoch = max(1, -(-len(train) // params.batch_size))
    validation = splits["validation"].with_transform(make_transform(preprocess, train=False))
    arguments = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=params.epochs,
        max_steps=params.max_steps if streaming else -1,
        accelerator_config={"dispatch_batches": False},  # each process streams its own shards
        learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size * 2,
        weight_decay=params.weight_decay,
        warmup_steps=params.warmup_ratio,
        lr_scheduler_type="cosine",
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=max(1, steps_per_epoch // 2),
        report_to="none",
        seed=params.seed,
        data_seed=params.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=validation,
        data_collator=collate,
        compute_metrics=accuracy,
        optimizers=(torch.optim.AdamW(parameter_groups(model, params)), None),
    )
    trainer.train()
    return trainer.model, processor, trainer.state.log_history
