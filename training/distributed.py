"""What a training run needs to know when it is one of N processes (``torchrun``, ``accelerate launch``).

The ``Trainer`` runs data-parallel (DDP; gloo on CPU, NCCL on GPUs) when the launcher starts N
processes; each process takes ``--batch-size`` photos per step, so a step sees N × that many.
Everything after training (saving, evaluation, the card, the ONNX export, the push) happens once,
on the main process, while the others wait for it:

    torchrun --nproc_per_node 2 -m training --data ../shared/data/rooms --output models/clean-or-messy
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def _state():
    """accelerate's process state, the same one the Trainer uses (set up once, from the launcher's environment)."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def is_main_process() -> bool:
    """True on rank 0, and in an ordinary single-process run."""
    return _state().is_main_process


def world_size() -> int:
    """How many processes train together (1 outside a distributed run)."""
    return _state().num_processes


def wait_for_everyone() -> None:
    """Barrier: return once every process got here (a no-op in a single-process run)."""
    _state().wait_for_everyone()
