"""Clean or Messy: the Gradio app, also the Hugging Face Space entry point.

    MODEL_ID=models/clean-or-messy EXAMPLES_DIR=../shared/data/rooms/validation \\
        python space/app.py --host 127.0.0.1 --port 7860

It runs unchanged as a Space (``app_file: space/app.py``; the Space holds ``space/*.py`` and
``cleanmessy/`` in this repository's layout). Settings: see ``space/README.md``.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

# A Space runs its app_file (`python space/app.py`) uninstalled: put the repo root, where cleanmessy/ lives, on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cleanmessy import Predictor, settings  # noqa: E402

settings.export("GRADIO_ANALYTICS_ENABLED", "False", overwrite=False)
# Gradio rebuilds a pandas summary of every past event after each request (4.7 ms at 400 events, 9.9 ms at
# 10 000, on this 2-core box); it only feeds the /monitoring page, which we turn off.
settings.export("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(10**9), overwrite=False)

import gradio as gr  # noqa: E402

from cleanmessy.explain import uses_pytorch  # noqa: E402
from cleanmessy.feedback_sync import start_feedback_sync  # noqa: E402
from cleanmessy.model_info import read_model_info  # noqa: E402
from space.config import SpaceConfig, parse_args  # noqa: E402
from space.examples import find_examples  # noqa: E402
from space.mcp_tool import add_classify_room_tool  # noqa: E402
from space.rest import rest_routes  # noqa: E402
from space.service import SpaceService  # noqa: E402
from space.web_route import PATH as WEB_PATH, WebPageError, web_routes  # noqa: E402

logger = logging.getLogger("space")

TITLE = "Clean or Messy?"
THEME = gr.themes.Default()  # fonts ship with gradio (LocalFont): nothing is fetched from the internet


def intro(threshold: float, web_page: bool = False) -> str:
    on_device = (f"\n\n📱 [Run it on your device]({WEB_PATH}/): the model runs in your browser and the photo "
                 "never leaves your phone." if web_page else "")
    return (
        f"# 🧹 {TITLE}\n"
        "Drop in a photo of a room (upload, drag and drop, paste, or take one with your camera) and get a "
        "verdict that settles the argument. The heatmap shows **which parts look messy**: the brighter, the "
        f"more that spot pushes the verdict toward *messy*. Below {threshold:.0%} confidence the answer is "
        "*hard to say*." + on_device
    )


def footer(predictor: Predictor) -> str:
    """The served model, pinned revision and commit included, with its measured accuracy."""
    info = read_model_info(predictor.served)
    return f"Model: `{info.model_id}` · {info.describe()}"


@dataclass
class OnePhotoTab:
    """The "One photo" tab's components."""

    photo: gr.Image
    verdict: gr.Markdown
    meter: gr.Label
    heatmap: gr.Image
    right: gr.Button
    wrong: gr.Button
    thanks: gr.Markdown
    last: gr.State


@dataclass
class SeveralPhotosTab:
    """The "Several photos" tab's components."""

    files: gr.File
    check_all: gr.Button
    gallery: gr.Gallery
    table: gr.Markdown


def one_photo_tab(examples: list[str]) -> OnePhotoTab:
    """Lay out the upload, the verdict, the confidence meter, the heatmap and the feedback buttons."""
    with gr.Row():
        with gr.Column():
            photo = gr.Image(
                sources=["upload", "webcam", "clipboard"], type="filepath", label="Your room",
                elem_id="photo", height=420,
            )
            if examples:
                gr.Examples(examples=examples, inputs=photo, label="Examples from the training data",
                            examples_per_page=12)
        with gr.Column():
            verdict = gr.Markdown(elem_id="verdict")
            meter = gr.Label(num_top_classes=2, label="Confidence", elem_id="meter")
            heatmap = gr.Image(label="Where the mess is", type="pil", format="jpeg", interactive=False,
                               elem_id="heatmap", height=420)
            with gr.Row():
                right = gr.Button("👍 Right", interactive=False, elem_id="right")
                wrong = gr.Button("👎 Wrong", interactive=False, elem_id="wrong")
            thanks = gr.Markdown(elem_id="thanks")
    return OnePhotoTab(photo, verdict, meter, heatmap, right, wrong, thanks, gr.State(None))


def several_photos_tab() -> SeveralPhotosTab:
    """Lay out the multi-file upload, its button, the captioned gallery and the summary table."""
    files = gr.File(file_count="multiple", file_types=["image"], label="Photos", elem_id="files")
    check_all = gr.Button("Check them all", variant="primary", elem_id="check-all")
    gallery = gr.Gallery(label="Verdicts", columns=4, height=360, object_fit="contain", elem_id="gallery")
    return SeveralPhotosTab(files, check_all, gallery, gr.Markdown(elem_id="table"))


def wire_one_photo(tab: OnePhotoTab, service: SpaceService) -> None:
    """A new photo gets its verdict and heatmap; 👍/👎 store it once, then the buttons switch off."""

    def check(payload):
        if not payload:
            return "", None, None, None, gr.update(interactive=False), gr.update(interactive=False), ""
        text, scores, overlay, state = service.check(payload)
        enabled = gr.update(interactive=True)
        return text, scores, overlay, state, enabled, enabled, ""

    def feedback(model_was_right: bool):
        def record(state):
            message = service.record_feedback(state, model_was_right)
            return message, gr.update(interactive=False), gr.update(interactive=False)
        return record

    buttons = [tab.thanks, tab.right, tab.wrong]
    tab.photo.change(check, tab.photo, [tab.verdict, tab.meter, tab.heatmap, tab.last, tab.right, tab.wrong, tab.thanks],
                     preprocess=False, api_name="check", api_visibility="undocumented")
    tab.right.click(feedback(True), tab.last, buttons, api_name="feedback_right", api_visibility="undocumented")
    tab.wrong.click(feedback(False), tab.last, buttons, api_name="feedback_wrong", api_visibility="undocumented")


def add_api(service: SpaceService, config: SpaceConfig) -> None:
    """The documented endpoints ``/predict`` and ``/predict_batch``, and the agents' tool ``/classify_room`` (MCP)."""

    def predict(image: gr.FileData) -> dict:
        """Classify one room photo: {"label": "clean"|"messy", "confidence": 0-1, "scores": {...}, "unsure": bool,
        "not_a_room": bool} (label and scores are the clean/messy leaning even when not_a_room is true)."""
        return service.predict(image)

    def predict_batch(images: list[gr.FileData]) -> list[dict]:
        """Classify several photos in shared passes: one dict per photo, in order, with "file", and "error" for a bad one."""
        return service.predict_many(images)

    gr.api(predict, api_name="predict", concurrency_limit=config.api_concurrency)
    gr.api(predict_batch, api_name="predict_batch", concurrency_limit=config.concurrency)
    add_classify_room_tool(service, concurrency_limit=config.api_concurrency)


def build_demo(service: SpaceService, config: SpaceConfig, examples: list[str], *, web_page: bool = False) -> gr.Blocks:
    """The page (single photo, batch tab) and the API endpoints ``/predict``, ``/predict_batch`` and ``/classify_room``.

    ``web_page``: link to the in-browser page (served when ``launch`` gets :func:`space.web_route.web_routes`).
    """
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(intro(service.predictor.unsure_below, web_page))
        with gr.Tab("One photo"):
            one = one_photo_tab(examples)
        with gr.Tab("Several photos"):
            several = several_photos_tab()
        gr.Markdown(footer(service.predictor), elem_id="footer")
        wire_one_photo(one, service)
        several.check_all.click(service.check_many, several.files, [several.gallery, several.table],
                                preprocess=False, api_visibility="private")
        add_api(service, config)
    demo.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size)
    return demo


def launch(demo: gr.Blocks, config: SpaceConfig, service: SpaceService, *, block: bool = True,
           routes: list | None = None):
    """Start the server with the serving limits, the REST API and any extra ``routes`` in front (matched first),
    and the MCP server; return ``(app, url)``."""
    routes = [*(routes or []), *rest_routes(service, max_bytes=config.max_file_bytes, rate_limit=config.rest_rate_limit)]
    app, url, _ = demo.launch(
        server_name=config.host,
        server_port=config.port,
        max_file_size=config.max_file_bytes,
        theme=THEME,
        show_error=False,
        quiet=True,
        ssr_mode=False,
        run_history=False,
        enable_monitoring=False,
        prevent_thread_lock=not block,
        mcp_server=config.mcp_server,
        app_kwargs={"routes": routes},
    )
    return app, url


def main(argv: list[str] | None = None) -> None:
    """Load the model once, gather the examples, serve."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    model_id = settings.model_id()
    # Every check draws a heatmap: if its method needs the PyTorch model, load that now, not on the first visit.
    predictor = Predictor.load(model_id, preload_model=uses_pytorch(), revision=settings.model_revision())
    service = SpaceService(predictor, max_batch=config.max_batch, feedback_dir=settings.feedback_dir())
    examples = find_examples(predictor.served.path, folder=config.examples_dir, dataset=config.examples_dataset,
                             per_label=config.examples_per_label)
    try:
        routes = web_routes(predictor.served.path, predictor.unsure_below, token=settings.hf_token())
    except WebPageError as error:
        logger.warning("no in-browser page at %s/: %s", WEB_PATH, error)
        routes = []
    demo = build_demo(service, config, examples, web_page=bool(routes))
    _, url = launch(demo, config, service, block=False, routes=routes)
    sync = start_feedback_sync(settings.feedback_dir())
    mcp = f", MCP at {url}gradio_api/mcp/" if config.mcp_server else ""
    print(f"==> {TITLE} is serving {predictor.served.describe()} on {url} ({len(examples)} examples, feedback to "
          f"{settings.feedback_dir()}{' and ' + sync.repo_id if sync else ''}; REST at {url}api/docs{mcp})", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a Space is stopped with SIGTERM: shut down (and push) cleanly
    try:
        demo.block_thread()
    finally:
        if sync:
            sync.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
