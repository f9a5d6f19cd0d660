"""Run ``load_image`` on one file in a fresh process and report what it cost: ``python -m tests.intake_probe FILE``.

Prints one JSON line: ``outcome`` (``"ok WxH"`` or the exception's class name), ``message``,
``peak_mb`` (growth of the process's peak resident memory during the call, from ``ru_maxrss``)
and ``seconds``. A fresh process per file keeps one file's peak from hiding another's.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(path: str) -> None:
    from cleanmessy.images import load_image

    data = Path(path).read_bytes()
    before, started = _peak_mb(), time.perf_counter()
    try:
        image = load_image(data)
        outcome, message = f"ok {image.width}x{image.height}", ""
    except Exception as error:  # noqa: BLE001  (the probe reports whatever escaped)
        outcome, message = type(error).__name__, str(error)
    seconds = time.perf_counter() - started
    print(json.dumps({"outcome": outcome, "message": message, "peak_mb": round(_peak_mb() - before, 1),
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main(sys.argv[1])
