"""The deployed Space's installed size and cold start, before and after it stopped needing PyTorch.

    python -m bench.space_cold --model models/clean-or-messy --before-ref main~N

For each variant (``before``: the Space that ``python -m space.deploy`` built at ``--before-ref``;
``after``: the one it builds now) this stages the Space's files with that version's deploy code,
installs them into a fresh venv the way the Space builder does (``gradio==<sdk_version>`` plus the
Space's ``requirements.txt``, from PyPI with ``pip --isolated``, so Linux gets PyPI's ``torch`` as a
Space would: the CUDA build), and measures:

- the venv's size on disk;
- cold start, three times: a new ``python space/app.py`` process, an empty Hub cache, the model
  served by a loopback Hub fake (so download time is not counted: on the real Hub it adds the
  model files' size over the network, which ``preload_from_hub`` moves to build time) → the page
  served, the first ``/predict`` answer, and the first ``/check`` answer (verdict + heatmap), each
  counted from the process start.

Venvs are kept in ``--venvs`` (default ``/tmp/space-cold-venvs``) and reused when present.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleanmessy import settings  # noqa: E402  (imports no Hub library)
from tests.fakes.hub import HubServer  # noqa: E402  (stdlib only)

HUB = HubServer().start()
for name, value in {"HF_ENDPOINT": HUB.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
                    "HF_HOME": tempfile.mkdtemp(prefix="space-cold-hf-")}.items():
    settings.export(name, value)  # before huggingface_hub is imported: it copies them at import

from bench.report import write_section  # noqa: E402
from tests.space_venv import cpu_seconds, front_matter, has_module, running_space, space_env, tree_size  # noqa: E402

PYPI = ("--isolated", "--index-url", "https://pypi.org/simple")
STAGE = """
import sys
from pathlib import Path
from space.deploy import stage_space
stage_space(Path(sys.argv[1]), sys.argv[2], "Clean or Messy")
"""


def stage(ref: str | None, model_repo: str, out: Path) -> Path:
    """The Space's files as ``python -m space.deploy`` at ``ref`` (None: this checkout) writes them."""
    tree = ROOT
    if ref:
        tree = Path(tempfile.mkdtemp(prefix="space-cold-src-"))
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    subprocess.run([sys.executable, "-c", STAGE, str(out), model_repo], cwd=tree, check=True)
    return out


def install(checkout: Path, venv: Path) -> Path:
    """A venv with the Space's gradio and requirements from PyPI (reused if it was built before)."""
    python = venv / "bin" / "python"
    if (venv / ".installed").exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    gradio = f"gradio=={front_matter(checkout / 'README.md')['sdk_version']}"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PYPI, "--progress-bar", "off",
                    gradio, "-r", str(checkout / "requirements.txt")], check=True)
    (venv / ".installed").touch()
    return python


def cold_starts(python: Path, checkout: Path, variables: dict[str, str], photo: Path,
                runs: int) -> list[tuple[float, float, float, float]]:
    """Per run, each with an empty Hub cache: (page served, first /predict, first /check) seconds from the
    process start, and the CPU seconds the app process used until that first /check."""
    from gradio_client import Client, handle_file

    results = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="space-cold-home-"))
        started = time.perf_counter()
        with running_space(python, checkout, space_env(home, HUB.url, variables), home / "app.log") as (url, served, pid):
            client = Client(url, verbose=False)
            client.predict(handle_file(str(photo)), api_name="/predict")
            predicted = time.perf_counter() - started
            client.predict(handle_file(str(photo)), api_name="/check")
            checked = time.perf_counter() - started
            cpu = cpu_seconds(pid)
        results.append((served, predicted, checked, cpu))
        print(f"  served {served:.2f} s, first /predict {predicted:.2f} s, first /check {checked:.2f} s, "
              f"CPU {cpu:.2f} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.space_cold", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/clean-or-messy", help="model directory to serve (with onnx/)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--before-ref", required=True, help="git ref whose deploy code built the 'before' Space")
    parser.add_argument("--venvs", type=Path, default=Path("/tmp/space-cold-venvs"), help="where the venvs are kept")
    parser.add_argument("--runs", type=int, default=3, help="cold starts per variant (default: %(default)s)")
    parser.add_argument("--variants", default="before,after", help="which to measure (default: %(default)s)")
    args = parser.parse_args(argv)
    args.before_ref = subprocess.run(["git", "rev-parse", "--short", args.before_ref], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout.strip()

    from huggingface_hub import HfApi

    repo = f"bench/clean-or-messy-{uuid.uuid4().hex[:6]}"
    api = HfApi(endpoint=HUB.url, token="hf_bench")
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=str(args.model), ignore_patterns=["checkpoints/*", "eval/*"])
    variables = {"MODEL_ID": repo}
    photo = sorted((Path(args.data) / "validation" / "messy").iterdir())[0]

    rows = []
    for name, ref in (("before", args.before_ref), ("after", None)):
        if name not in args.variants.split(","):
            continue
        checkout = stage(ref, repo, Path(tempfile.mkdtemp(prefix=f"space-cold-{name}-")))
        print(f"{name}: {', '.join((checkout / 'requirements.txt').read_text().split())}", flush=True)
        python = install(checkout, args.venvs / name)
        size = tree_size(args.venvs / name)
        nvidia = sum(tree_size(p) for p in (args.venvs / name).glob("lib/python*/site-packages/nvidia*"))
        runs = sorted(cold_starts(python, checkout, variables, photo, args.runs), key=lambda run: run[2])
        served, predicted, checked, cpu = runs[len(runs) // 2]
        torch = "CUDA build" if nvidia else ("CPU build" if has_module(python, "torch") else "none")
        rows.append(f"| {name} | {torch} | {size / 2**30:.2f} GiB | {nvidia / 2**30:.2f} GiB | {served:.1f} | "
                     f"{predicted:.1f} | {checked:.1f} | {cpu:.1f} |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    body = (
        "| Space | torch | venv size | of which `nvidia-*` | page served (s) | first `/predict` (s) | first `/check`, "
        "verdict + heatmap (s) | app CPU time until then (s) |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        + f"\n\n`before`: the Space `python -m space.deploy` built at `{args.before_ref}` (torch and transformers from "
        "PyPI, the PyTorch model loaded at start for the gradient heatmap). `after`: this checkout's (int8 ONNX, "
        "occlusion heatmap, no torch). Venv: `gradio==<sdk_version>` + the Space's `requirements.txt` installed "
        "from PyPI with `pip --isolated`, as the Space builder does. Cold start: median of "
        f"{args.runs} new processes (by first `/check`), each with an empty Hub cache, model `{args.model}` served by "
        "the loopback Hub (no network time), times from the process start. This machine is shared: the 1-minute "
        f"load average was {load:.1f} on {os.cpu_count()} cores at the end, so the wall times include waiting for "
        "the CPU; the app's CPU time is the work itself."
    )
    write_section("space-cold", "Space: installed size and cold start",
                  f"python -m bench.space_cold --model {args.model} --before-ref {args.before_ref}", body)
    print(body)


if __name__ == "__main__":
    main()
