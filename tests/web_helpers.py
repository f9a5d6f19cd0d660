"""Helpers for the in-browser page tests: model variants, the app with /web/ mounted, Chromium with a network log."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from tests.helpers import free_port

NOT_A_ROOM_THRESHOLD = 0.5


def add_not_a_room_output(onnx_path: Path) -> None:
    """Give a graph the ``not_a_room`` output (N,) float32 of the "not a room" contract.

    The score is a fixed rule a test can reason about: sigmoid(4 · (mean(blue − red) − 2.5)) over the
    normalised pixels, so a saturated blue picture is "not a room" (≈1) and a generated room is not (≈0).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    pixels = graph.input[0].name
    constants = {
        "nar_start_blue": [2], "nar_end_blue": [3], "nar_start_red": [0], "nar_end_red": [1], "nar_axis": [1],
    }
    for name, value in constants.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    graph.initializer.append(numpy_helper.from_array(np.array(2.5, np.float32), "nar_offset"))
    graph.initializer.append(numpy_helper.from_array(np.array(4.0, np.float32), "nar_gain"))
    graph.node.extend([
        helper.make_node("Slice", [pixels, "nar_start_blue", "nar_end_blue", "nar_axis"], ["nar_blue"]),
        helper.make_node("Slice", [pixels, "nar_start_red", "nar_end_red", "nar_axis"], ["nar_red"]),
        helper.make_node("Sub", ["nar_blue", "nar_red"], ["nar_diff"]),
        helper.make_node("ReduceMean", ["nar_diff"], ["nar_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Sub", ["nar_mean", "nar_offset"], ["nar_centred"]),
        helper.make_node("Mul", ["nar_centred", "nar_gain"], ["nar_logit"]),
        helper.make_node("Sigmoid", ["nar_logit"], ["not_a_room"]),
    ])
    graph.output.append(helper.make_tensor_value_info("not_a_room", TensorProto.FLOAT, ["batch_size"]))
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def web_model_variant(source: Path, target: Path, *, gate: bool = False, crop: bool = True) -> Path:
    """Copy an exported model to ``target``; ``gate`` adds the "not a room" output and threshold,
    ``crop=False`` makes its processor resize the whole photo to a square without cropping."""
    shutil.copytree(source, target)
    if gate:
        for name in ("model.onnx", "model_quantized.onnx"):
            add_not_a_room_output(target / "onnx" / name)
        config = json.loads((target / "config.json").read_text())
        config["not_a_room_threshold"] = NOT_A_ROOM_THRESHOLD
        (target / "config.json").write_text(json.dumps(config, indent=2))
    if not crop:
        processor = json.loads((target / "preprocessor_config.json").read_text())
        side = processor["crop_size"]["height"]
        processor.update(do_center_crop=False, size={"height": side, "width": side})
        (target / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return target


def onnx_not_a_room(model_dir: Path, pixel_values: np.ndarray) -> np.ndarray | None:
    """The int8 graph's ``not_a_room`` scores for preprocessed pixels, or ``None`` if it has no such output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_dir / "onnx" / "model_quantized.onnx"), providers=["CPUExecutionProvider"])
    if "not_a_room" not in {output.name for output in session.get_outputs()}:
        return None
    return session.run(["not_a_room"], {"pixel_values": pixel_values})[0]


@contextmanager
def running_web_space(model_dir: Path, feedback_dir: Path, *, isolated: bool = True, threshold: float = 0.65) -> Iterator:
    """Yield ``(url, service, demo)``: the real Gradio app with the in-browser page mounted at /web/."""
    from cleanmessy import Predictor
    from space.app import build_demo, launch
    from space.config import SpaceConfig
    from space.service import SpaceService
    from space.web_route import web_routes

    config = SpaceConfig(port=free_port())
    predictor = Predictor.load(model_dir, threads=1, unsure_below=threshold)
    service = SpaceService(predictor, max_batch=config.max_batch, feedback_dir=feedback_dir)
    routes = web_routes(str(model_dir), predictor.unsure_below, isolated=isolated)
    demo = build_demo(service, config, [], web_page=True)
    _, url = launch(demo, config, block=False, routes=routes)
    try:
        yield url.rstrip("/"), service, demo
    finally:
        demo.close()
        service.close()


@contextmanager
def chromium(window_size: str = "1280,1100", net_log: Path | None = None, extra_flags: tuple[str, ...] = ()) -> Iterator:
    """Debian Chromium with the project's flags (loopback only) and the CDP performance log on.

    ``net_log``: also write Chromium's own NetLog there, socket bytes included (every process:
    page, workers, service worker), complete once the browser has quit.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from scraper.browser import CHROMEDRIVER, CHROMIUM, chromium_arguments

    os.environ["SE_OFFLINE"] = "true"
    workdir = Path(tempfile.mkdtemp(prefix="web-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in chromium_arguments(workdir / "profile", window_size=window_size):
        options.add_argument(flag)
    for flag in extra_flags:
        options.add_argument(flag)
    if net_log is not None:
        options.add_argument(f"--log-net-log={net_log}")
        options.add_argument("--net-log-capture-mode=Everything")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    env = dict(os.environ, HOME=str(workdir / "home"), XDG_CONFIG_HOME=str(workdir / "config"),
               XDG_CACHE_HOME=str(workdir / "cache"))
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(workdir, ignore_errors=True)


def wait(driver, condition, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def open_page(driver, url: str, timeout: float = 180) -> None:
    """Load the page and wait until its model is ready (``body[data-ready]``); fail with the page's status."""
    driver.get(url)
    state = wait(driver, lambda d: d.execute_script("return document.body && document.body.dataset.ready"), timeout)
    if state != "true":
        status = driver.execute_script("return document.getElementById('status').textContent")
        logs = [entry["message"] for entry in driver.get_log("browser")]
        raise AssertionError(f"the page did not load its model: {status}\n" + "\n".join(logs[-10:]))


def classify_in_page(driver, path: Path, timeout: float = 60) -> dict:
    """Give ``path`` to input#photo and return ``#result[data-json]``, or raise with the page's message."""
    from selenium.webdriver.common.by import By

    driver.execute_script("delete document.getElementById('result').dataset.json;"
                          "document.getElementById('message').hidden = true;")
    driver.find_element(By.CSS_SELECTOR, "input#photo[type=file]").send_keys(str(path))
    answer = wait(driver, lambda d: d.execute_script(
        "const r = document.getElementById('result'), m = document.getElementById('message');"
        "return r.dataset.json ? {json: r.dataset.json} : (!m.hidden && m.textContent ? {message: m.textContent} : null);"),
        timeout)
    if "message" in answer:
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        raise PageMessage(answer["message"] + "".join(f"\n  console: {error}" for error in errors[-5:]))
    return json.loads(answer["json"])


class PageMessage(AssertionError):
    """The page showed a message instead of a verdict."""


def page_message(driver, path: Path, timeout: float = 60) -> str:
    """Give ``path`` to the page and return the message it shows (fails if it shows a verdict instead)."""
    try:
        result = classify_in_page(driver, path, timeout)
    except PageMessage as message:
        return str(message)
    raise AssertionError(f"{path.name} was classified, expected a message: {result}")


def network_requests(driver) -> list[dict]:
    """``Network.requestWillBeSent`` requests from the CDP performance log since the last call, in order."""
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"])
    return requests


def read_net_log(path: Path) -> dict:
    """Chromium's NetLog JSON (tolerating the unterminated tail a crash would leave)."""
    text = path.read_text(encoding="utf-8", errors="replace").rstrip()
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(text.rstrip(",") + "]}")


def net_log_traffic(log: dict) -> dict:
    """What a NetLog shows went over the network.

    ``urls``: every URL requested; ``tcp``: every address a TCP connection was attempted to;
    ``udp_silent``: UDP sockets "connected" (an OS route lookup) that never sent a byte;
    ``sending``: the address of every socket that wrote bytes; ``sent``: all those bytes, concatenated.
    """
    import base64
    from collections import defaultdict

    types = {value: name for name, value in log["constants"]["logEventTypes"].items()}
    urls, tcp = set(), set()
    address_of: dict[int, str] = {}
    sent_by: dict[int, bytearray] = defaultdict(bytearray)
    for event in log["events"]:
        params = event.get("params") or {}
        kind, source = types.get(event["type"], ""), event["source"]["id"]
        if isinstance(params.get("url"), str):
            urls.add(params["url"])
        if kind == "TCP_CONNECT":
            tcp.update(params.get("address_list") or [])
        if kind in {"TCP_CONNECT_ATTEMPT", "TCP_CONNECT", "UDP_CONNECT", "SOCKET_CONNECT"} and params.get("address"):
            address_of[source] = params["address"]
            if kind.startswith("TCP"):
                tcp.add(params["address"])
        if kind in {"SOCKET_BYTES_SENT", "UDP_BYTES_SENT"}:
            sent_by[source] += base64.b64decode(params.get("bytes", ""))
    sending = {address_of.get(source, f"unknown socket {source}") for source in sent_by}
    udp_silent = {address for source, address in address_of.items() if source not in sent_by} - tcp
    return {"urls": urls, "tcp": tcp, "udp_silent": udp_silent, "sending": sending,
            "sent": b"".join(bytes(chunk) for chunk in sent_by.values())}
