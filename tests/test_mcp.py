"""The Space as an MCP server: the official ``mcp`` client over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.space_helpers import encoded, running_space
from tests.helpers import make_room_image


@pytest.fixture(scope="module")
def space(tiny_model_dir, tmp_path_factory):
    with running_space(tiny_model_dir, tmp_path_factory.mktemp("feedback")) as (url, service):
        yield url, service


async def with_session(url: str, work, query: str = ""):
    async with streamable_http_client(f"{url}gradio_api/mcp/{query}") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_classify_room_is_listed_with_a_description_for_agents(space):
    tools = asyncio.run(with_session(space[0], lambda session: session.list_tools())).tools
    tool = next(tool for tool in tools if tool.name == "classify_room")
    assert '"clean" or "messy"' in tool.description
    assert "hard to say" in tool.description and "not_a_room" in tool.description
    assert tool.inputSchema["required"] == ["image"]
    assert tool.inputSchema["properties"]["image"]["type"] == "string"
    assert "base64" in tool.inputSchema["properties"]["image"]["description"]
    only = asyncio.run(with_session(space[0], lambda session: session.list_tools(), "?tools=classify_room")).tools
    assert [tool.name for tool in only] == ["classify_room"]  # the README's client configuration


def test_classify_room_on_a_photo_gives_the_verdict(space):
    url, service = space
    photo = encoded(make_room_image(messy=True, size=(96, 80), seed=11), "JPEG", quality=90)

    async def call(session):
        return await session.call_tool("classify_room", {"image": data_uri(photo)})

    result = asyncio.run(with_session(url, call))
    assert not result.isError
    (content,) = result.content
    assert json.loads(content.text) == service.predictor.predict(photo).to_dict()


def test_classify_room_explains_a_non_image(space):
    async def call(session):
        return await session.call_tool("classify_room", {"image": data_uri(b"not a photo at all" * 8)})

    result = asyncio.run(with_session(space[0], call))
    assert result.isError
    assert "this file is not an image" in result.content[0].text


def test_mcp_server_can_be_turned_off(tiny_model_dir, tmp_path):
    import httpx

    with running_space(tiny_model_dir, tmp_path, mcp_server=False) as (url, _):
        assert httpx.post(f"{url}gradio_api/mcp/", json={}).status_code == 404
