"""Micro-batching: concurrent requests share forward passes, and one bad upload never fails the others.

Gradio's own ``batch=True`` hands a batch of raw inputs to one function call, so a single
undecodable upload would turn every request in that batch into an error. Here each request
decodes and checks its own photo first (so its error is its own), then queues the decoded
image; one worker thread takes whatever is waiting, up to ``max_batch``, and runs it through
the model in a single pass.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Sequence

from PIL import Image

from cleanmessy.verdict import Verdict


class Batcher:
    """Classifies already decoded images from many threads in shared forward passes.

    ``lock`` is held for every forward pass, so other model work (the heatmap) can take
    turns with it instead of competing for the same cores.
    """

    def __init__(self, predictor, *, max_batch: int = 16, lock: threading.Lock | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.predictor = predictor
        self.max_batch = max_batch
        self.lock = lock or threading.Lock()
        self.batch_sizes: list[int] = []  # for tests and benchmarks: the size of every pass run so far
        self._pending: list[tuple[Image.Image, Future]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="cleanmessy-batcher", daemon=True)
        self._worker.start()

    def predict(self, images: Sequence[Image.Image]) -> list[Verdict]:
        """Verdicts for ``images`` (decoded RGB), in order; blocks until their passes are done."""
        futures: list[Future] = [Future() for _ in images]
        with self._wake:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._pending.extend(zip(images, futures))
            self._wake.notify()
        return [future.result() for future in futures]

    def close(self) -> None:
        """Stop the worker after the passes already queued."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._worker.join(timeout=30)

    def _take(self) -> list[tuple[Image.Image, Future]] | None:
        with self._wake:
            while not self._pending and not self._closed:
                self._wake.wait()
            if not self._pending:
                return None
            taken, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            return taken

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                with self.lock:
                    verdicts = self.predictor.verdicts([image for image, _ in jobs])
                self.batch_sizes.append(len(jobs))
                for (_, future), verdict in zip(jobs, verdicts):
                    future.set_result(verdict)
            except Exception as error:  # noqa: BLE001 - handed to every waiting caller, who re-raises it
                for _, future in jobs:
                    future.set_exception(error)
