"""Render ``hub_card.md`` into a model card whose numbers all come from the evaluation."""

from __future__ import annotations

import platform
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from cleanmessy import settings
from training.metrics import wilson_interval

TEMPLATE = Path(__file__).resolve().parent.parent / "hub_card.md"
LICENSE = "apache-2.0"


def _hardware() -> str:
    import os

    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def cross_validation(calibration) -> dict | None:
    """The card's cross-validated accuracy, interval and calibrated ECE, or ``None`` if they were not measured."""
    if calibration is None or not calibration.cv_count:
        return None
    low, high = wilson_interval(calibration.cv_correct, calibration.cv_count)
    return {"correct": calibration.cv_correct, "count": calibration.cv_count,
            "accuracy": calibration.cv_correct / calibration.cv_count, "low": low, "high": high,
            "ece": calibration.cv_ece, "runs": calibration.cv_runs}


def build_card_data(
    *, model_name: str, base_model: str | None, dataset_id: str | None, dataset_name: str, metrics: dict,
    cv: dict | None = None, hub_datasets: list[str] | None = None,
) -> ModelCardData:
    """YAML metadata: pipeline tag, base model, datasets, license and a model-index with the metrics."""
    dataset_type = dataset_id or "imagefolder"
    results = [
        EvalResult(
            task_type="image-classification",
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split="validation",
            metric_type=metric_type,
            metric_value=round(value, 4),
            metric_name=metric_name,
        )
        for metric_type, metric_name, value in (
            ("accuracy", "Accuracy", metrics["accuracy"]),
            ("f1", "Macro F1", metrics["macro_f1"]),
            ("ece", "Expected calibration error", metrics["expected_calibration_error"]),
        )
    ]
    if cv:
        results.append(EvalResult(
            task_type="image-classification", dataset_type=dataset_type, dataset_name=dataset_name,
            dataset_split="train+validation, out-of-fold", metric_type="accuracy",
            metric_value=round(cv["accuracy"], 4), metric_name=f"Cross-validated accuracy ({cv['runs']})",
        ))
    return ModelCardData(
        model_name=model_name,
        base_model=base_model,
        datasets=hub_datasets or ([dataset_id] if dataset_id else None),
        license=LICENSE,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "vision", "clean-or-messy"],
        eval_results=results,
    )


def render_card(
    *,
    output_dir: Path,
    repo_id: str,
    base_model: str | None,
    base_name: str,
    base_url: str,
    architecture: str,
    dataset_id: str | None,
    dataset_name: str,
    metrics: dict,
    train_size: int,
    hyperparameters: dict,
    train_seconds: float,
    onnx_note: str | None = None,
    calibration=None,
    not_a_room_note: str | None = None,
    sources_table: str | None = None,
    hub_datasets: list[str] | None = None,
) -> Path:
    """Write ``output_dir/README.md`` from the template and return its path.

    ``base_model`` is the Hub id for the YAML (``None`` for a local base), ``base_name`` what people read and
    ``base_url`` its link (see :func:`training.packaged_base.card_base`).
    ``calibration`` is a :class:`training.calibration.Calibration`: the folded temperature, where it was
    fitted, and the cross-validated accuracy shown beside the validation split.
    """
    model_name = repo_id.split("/")[-1]
    card = ModelCard.from_template(
        build_card_data(
            model_name=model_name, base_model=base_model, dataset_id=dataset_id,
            dataset_name=dataset_name, metrics=metrics, cv=cross_validation(calibration), hub_datasets=hub_datasets,
        ),
        template_path=str(TEMPLATE),
        model_name=model_name,
        repo_id=repo_id,
        architecture=architecture,
        base_model=base_name,
        base_model_url=base_url,
        dataset_description=(
            f"the Hub dataset [`{dataset_id}`](https://huggingface.co/datasets/{dataset_id})"
            if dataset_id else f"a local image folder ({dataset_name})"
        ),
        metrics=metrics,
        metrics_train_size=train_size,
        hyperparameters=hyperparameters,
        train_seconds=train_seconds,
        hardware=_hardware(),
        unsure_threshold=settings.unsure_threshold(),
        onnx=onnx_note,
        calibration=calibration,
        cv=cross_validation(calibration),
        not_a_room=not_a_room_note,
        sources_table=sources_table,
    )
    path = output_dir / "README.md"
    card.save(path)
    return path
