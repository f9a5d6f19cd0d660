"""Fine-tune an image classifier on clean/messy with the transformers ``Trainer``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict, IterableDataset
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
from training.resolution import at_resolution

logger = logging.getLogger(__name__)


@dataclass
class Hyperparameters:
    """What the Trainer needs besides the data; defaults are the measured recipe for ViT-S on ~200 photos."""

    epochs: float = 5
    learning_rate: float = 3e-5
    batch_size: int = 16
    weight_decay: float = 0.05
    warmup_ratio: float = 0.1
    seed: int = 0
    resolution: int | None = None  # input side in px; None keeps the base image processor's (224 px today)
    max_steps: int | None = None  # optimiser steps for a streamed train split, which has no length


def load_base(base: str, resolution: int | None = None):
    """``(model, image_processor)`` from a Hub id or local dir, with a fresh clean/messy head if needed.

    With ``resolution``, both are set up for ``resolution`` × ``resolution`` px inputs
    (see :func:`training.resolution.at_resolution`).
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
        return model, processor
    return at_resolution(model, processor, resolution)


def make_transform(preprocess: Preprocessor, train: bool):
    """A ``set_transform`` function: undecoded images -> checked RGB (-> augmented) -> pixel tensors."""

    def transform(batch: dict) -> dict:
        images = [load_image(encoded(image)) for image in batch["image"]]
        if train:
            images = [augment(image) for image in images]
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


def finetune(
    splits: DatasetDict, base: str, output_dir: Path, params: Hyperparameters
) -> tuple[torch.nn.Module, object, list[dict]]:
    """Train on ``splits['train']``, evaluating each epoch on ``splits['validation']``.

    Returns the trained model, its image processor and the Trainer's log history.
    Nothing is written to ``output_dir`` but scratch files under ``output_dir/checkpoints``.
    """
    set_seed(params.seed)
    model, processor = load_base(base, params.resolution)
    preprocess = Preprocessor(processor)
    streaming = isinstance(splits["train"], IterableDataset)
    if streaming:  # decoded and augmented on the fly, batch by batch, as the stream arrives
        if not params.max_steps:
            raise ValueError("a streamed train split needs Hyperparameters.max_steps")
        train = splits["train"].map(make_transform(preprocess, train=True), batched=True,
                                    batch_size=params.batch_size, remove_columns=["image", "label"])
        steps_per_epoch = max(1, int(params.max_steps // params.epochs))
    else:
        train = splits["train"].with_transform(make_transform(preprocess, train=True))
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
    )
    trainer.train()
    return trainer.model, processor, trainer.state.log_history
