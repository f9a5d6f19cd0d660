"""The ``classify_room`` tool for AI agents, served over MCP by Gradio (``launch(mcp_server=True)``).

Gradio turns every documented API endpoint into an MCP tool at ``/gradio_api/mcp/`` (streamable
HTTP): the tool's name is the function's name, its description and argument schema come from the
docstring and type hints below, so the docstring is written for an agent, not for us. Gradio's MCP
server accepts a file argument as an ``http(s)://`` URL (fetched by the server) or a
``data:image/...;base64,...`` string; an agent holding a local file can first upload it with
Gradio's ``upload_file_to_gradio`` helper (``gradio upload-mcp``), which returns such a URL. Gradio
fetches URLs with SSRF protection, so private and loopback addresses are refused. The answer is the
``/predict`` JSON as text (Gradio would otherwise hand an agent a Python ``repr``).
"""

from __future__ import annotations

import json

import gradio as gr

from space.service import SpaceService

TOOL_NAME = "classify_room"


def add_classify_room_tool(service: SpaceService, *, concurrency_limit: int) -> None:
    """Register ``classify_room`` as an API endpoint (and so an MCP tool) of the Blocks being built."""

    def classify_room(image: gr.FileData) -> str:
        """Judge whether a photo of a room is clean or messy.

        Returns a JSON object as text: "label" is "clean" or "messy", "confidence" is the probability of that
        label (0.5 to 1), "scores" gives both labels' probabilities, and "unsure" is true when the
        confidence is under the Space's threshold (65% by default): then the honest answer is "hard to
        say", the photo could go either way, so report it as undecided (you may mention which way it
        leans) rather than as a firm verdict. When the result has "not_a_room": true, the photo does not
        look like a room at all (a pet, a screenshot, a face...): say that instead of clean or messy.
        A file that is not a readable image (or is too large or tiny) fails with a message saying why.

        Args:
            image: the room photo (JPEG, PNG, WebP, GIF, BMP or TIFF) as an http(s) URL or a data:image/...;base64 URI.
        """
        return json.dumps(service.predict(image))

    gr.api(classify_room, api_name=TOOL_NAME, concurrency_limit=concurrency_limit)
