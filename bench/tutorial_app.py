"""The tutorial way to serve the model, as a baseline: ``gr.Interface`` around ``transformers.pipeline``.

    python bench/tutorial_app.py MODEL_DIR PORT

What a Gradio tutorial writes (``gr.Interface.from_pipeline`` itself fails with transformers 5 in this
Gradio, so the pipeline is wrapped by hand): eager PyTorch, one photo per call, default queue settings.
"""

from __future__ import annotations

import sys

import gradio as gr
from transformers import pipeline


def main() -> None:
    model, port = sys.argv[1], int(sys.argv[2])
    classify = pipeline("image-classification", model=model)

    def predict(image):
        return {result["label"]: result["score"] for result in classify(image)}

    demo = gr.Interface(predict, gr.Image(type="pil"), gr.Label(num_top_classes=2), api_name="predict")
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    print("==> tutorial app ready", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
