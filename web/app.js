// Clean or Messy in the browser: transformers.js runs the model repo's int8 ONNX graph on this device.
//
// Everything comes from this page's own origin (the library, the onnxruntime-web WASM files and, when
// served by the Gradio app, the model); settings.json beside this file says where the model is and the
// "hard to say" threshold. Contract for tests and automation: the file input is input#photo, and once a
// photo is classified #result carries data-json with the same JSON as the Space's /predict:
// {label, confidence, scores, unsure, not_a_room}.

import { env, AutoModel, AutoImageProcessor, RawImage } from "./vendor/transformers.min.js";
import { FILTERS, draftScale, reduce, resize } from "./resize.js";

const ORT_FILES = { mjs: "vendor/ort-wasm-simd-threaded.mjs", wasm: "vendor/ort-wasm-simd-threaded.wasm" };

const $ = (id) => document.getElementById(id);

/** A problem with the user's photo: its message is shown as it is. */
class PhotoError extends Error {}

// ------------------------------------------------------------------ settings and model

async function loadSettings() {
  const response = await fetch("settings.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`settings.json: HTTP ${response.status}`);
  return response.json();
}

function configureTransformers(settings) {
  const here = new URL(".", location.href);
  // transformers.js caches the WASM binary by URL, forever: the version in the query keeps an upgrade
  // of the library from running new glue code against an old binary.
  const version = `?v=${encodeURIComponent(env.backends.onnx.versions?.web ?? env.version)}`;
  env.backends.onnx.wasm.wasmPaths = {
    mjs: new URL(ORT_FILES.mjs + version, here).href,
    wasm: new URL(ORT_FILES.wasm + version, here).href,
  };
  // WASM threads need cross-origin isolation (COOP/COEP headers); ?threads=N overrides, for benchmarks.
  const threads = new URLSearchParams(location.search).get("threads");
  env.backends.onnx.wasm.numThreads = threads ? Number(threads)
    : self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  if (settings.local) {
    // The Gradio app serves the model files itself: never ask anyone else.
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    env.localModelPath = new URL(settings.local_model_path || "model/", here).pathname;
  } else {
    // The static Space reads the model repo from the Hub; the browser cache keeps it for offline use.
    env.allowLocalModels = false;
    env.allowRemoteModels = true;
    if (settings.remote_host) env.remoteHost = settings.remote_host;
  }
}

async function loadModel(settings) {
  const options = { revision: settings.revision || "main" };
  const [processor, model] = await Promise.all([
    AutoImageProcessor.from_pretrained(settings.model, options),
    AutoModel.from_pretrained(settings.model, { ...options, dtype: "q8", device: "wasm" }),
  ]);
  const id2label = model.config.id2label;
  const labels = Object.keys(id2label).sort((a, b) => a - b).map((i) => String(id2label[i]).toLowerCase());
  const gate = model.config.not_a_room_threshold;
  return {
    processor, normaliser: normaliser(processor), model, labels,
    notARoomThreshold: typeof gate === "number" ? gate : null,
  };
}

// ------------------------------------------------------------------ the photo

function megapixels(pixels) {
  return pixels >= 1e6 ? `${(pixels / 1e6).toFixed(0)} MP` : `${(pixels / 1e6).toFixed(1)} MP`;
}

function megabytes(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Check the file like the Python core does (bytes, then pixels from the header), then decode it. */
async function readPhoto(blob, settings) {
  if (blob.size === 0) throw new PhotoError("the file is empty (0 bytes)");
  if (blob.size > settings.max_image_bytes) {
    throw new PhotoError(`file too large: ${megabytes(blob.size)}, limit ${megabytes(settings.max_image_bytes)}`);
  }
  const url = URL.createObjectURL(blob);
  try {
    const element = new Image();
    element.src = url;
    // The size is known from the header; decoding the pixels is left for after the checks.
    await new Promise((resolve, reject) => {
      element.onload = resolve;
      element.onerror = () => reject(new PhotoError(
        "this file is not an image (JPEG, PNG, WebP, GIF, BMP or TIFF expected)"));
    });
    const width = element.naturalWidth, height = element.naturalHeight;
    if (width * height > settings.max_image_pixels) {
      throw new PhotoError(`image too large: ${megapixels(width * height)}, limit ${megapixels(settings.max_image_pixels)}`);
    }
    const minSide = settings.min_side ?? 32;
    if (Math.min(width, height) < minSide) {
      throw new PhotoError(`image too small: ${width}×${height} px, need at least ${minSide}×${minSide}`);
    }
    try {
      const head = new Uint8Array(await blob.slice(0, 3).arrayBuffer());
      const jpeg = head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
      return { image: await RawImage.fromBlob(blob), jpeg, url };
    } catch {
      throw new PhotoError("the image is damaged or truncated: please send it again");
    }
  } catch (error) {
    URL.revokeObjectURL(url);
    throw error;
  }
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / total);
}

const round4 = (x) => Math.round(x * 1e4) / 1e4;

/** RGB bytes of a decoded RGBA image, transparent parts on white (as the Python intake does). */
function toRGB(image) {
  const { data, width, height } = image;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; i < data.length; i += 4, o += 3) {
    const alpha = data[i + 3];
    for (let c = 0; c < 3; c++) {
      rgb[o + c] = alpha === 255 ? data[i + c] : Math.round((data[i + c] * alpha + 255 * (255 - alpha)) / 255);
    }
  }
  return { data: rgb, width, height };
}

/** The output size of the processor's resize, computed as the Python predictor does; null if it is not a plain one. */
function resizeTarget(size, width, height) {
  if (size?.shortest_edge && !size.longest_edge) {
    const target = size.shortest_edge;
    const long = Math.trunc((target * Math.max(width, height)) / Math.min(width, height));
    return width <= height ? [target, long] : [long, target];
  }
  if (size?.height && size?.width) return [size.width, size.height];
  return null;
}

/** Pillow-style centre crop (integer offsets, like the Python predictor), or null if the image is too small. */
function centreCrop(rgb, cropWidth, cropHeight) {
  if (cropWidth > rgb.width || cropHeight > rgb.height) return null;
  const left = Math.floor((rgb.width - cropWidth) / 2), top = Math.floor((rgb.height - cropHeight) / 2);
  const data = new Uint8Array(cropWidth * cropHeight * 3);
  for (let y = 0; y < cropHeight; y++) {
    const from = ((top + y) * rgb.width + left) * 3;
    data.set(rgb.data.subarray(from, from + cropWidth * 3), y * cropWidth * 3);
  }
  return { data, width: cropWidth, height: cropHeight };
}

/**
 * The processor's resize and centre crop, done with Pillow's arithmetic (web/resize.js) so the page
 * matches the Python predictor; the caller then rescales and normalises with the processor itself.
 * Returns null when the processor does something else (no resize, thumbnails, other filters, an image
 * smaller than the crop): transformers.js then does every step its own way.
 */
function resizeLikePython(processor, image, jpeg) {
  const plain = processor.do_resize && !processor.do_thumbnail && processor.size_divisibility === undefined
    && !processor.do_pad && FILTERS[processor.resample] && resizeTarget(processor.size, image.width, image.height);
  if (!plain) return null;
  let rgb = toRGB(image.channels === 4 ? image : image.rgba());
  if (jpeg) {
    // The Python intake decodes big JPEGs at 1/2, 1/4 or 1/8 scale (Pillow's draft): a block average.
    const size = processor.size;
    const hint = size.shortest_edge ?? Math.max(size.height, size.width);
    const scale = draftScale(rgb.width, rgb.height, hint);
    if (scale > 1) rgb = reduce(rgb, scale, scale);
  }
  const [width, height] = resizeTarget(processor.size, rgb.width, rgb.height);
  rgb = resize(rgb, width, height, processor.resample);
  if (processor.do_center_crop) {
    const crop = Number.isInteger(processor.crop_size)
      ? { width: processor.crop_size, height: processor.crop_size } : processor.crop_size;
    rgb = centreCrop(rgb, crop.width, crop.height);
    if (!rgb) return null;
  }
  return new RawImage(rgb.data, rgb.width, rgb.height, 3);
}

/** A copy of the processor that only rescales and normalises (for images already resized and cropped). */
function normaliser(processor) {
  return Object.assign(Object.create(Object.getPrototypeOf(processor)), processor,
    { do_resize: false, do_center_crop: false, do_thumbnail: false, do_crop_margin: false });
}

/** The same dict as the Space's /predict: {label, confidence, scores, unsure, not_a_room}. */
async function classify(state, image, jpeg = false) {
  const prepared = resizeLikePython(state.processor, image, jpeg);
  const { pixel_values } = prepared ? await state.normaliser._call(prepared) : await state.processor(image);
  const inferenceStarted = performance.now();
  const outputs = await state.model({ pixel_values });
  state.inferenceMs = performance.now() - inferenceStarted;
  const probabilities = softmax(Array.from(outputs.logits.data, Number));
  const best = probabilities.indexOf(Math.max(...probabilities));
  const notARoomScore = outputs.not_a_room ? Number(outputs.not_a_room.data[0]) : null;
  return {
    label: state.labels[best],
    confidence: round4(probabilities[best]),
    scores: Object.fromEntries(state.labels.map((label, i) => [label, round4(probabilities[i])])),
    unsure: probabilities[best] < state.settings.unsure_threshold,
    not_a_room: notARoomScore !== null && state.notARoomThreshold !== null && notARoomScore >= state.notARoomThreshold,
  };
}

// ------------------------------------------------------------------ showing the answer

function headline(result) {
  const percent = Math.round(result.confidence * 100);
  if (result.not_a_room) return "🤔 That doesn't look like a room";
  if (result.unsure) return `🤷 Hard to say (leaning ${result.label}, ${percent}%)`;
  const name = result.label.charAt(0).toUpperCase() + result.label.slice(1);
  return `${result.label === "messy" ? "🧹" : "✨"} ${name}, ${percent}% sure`;
}

function explanation(result, threshold) {
  if (result.not_a_room) return "Send a photo of a room and it will tell you whether it is clean or messy.";
  if (result.unsure) return `The model is less than ${Math.round(threshold * 100)}% sure either way, so it won't settle this one.`;
  return "";
}

function showResult(result, previewUrl, threshold) {
  const box = $("result");
  const old = $("preview").src;
  $("preview").src = previewUrl;
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  $("verdict").textContent = headline(result);
  $("explain").textContent = explanation(result, threshold);
  const messy = result.scores.messy ?? 0, clean = result.scores.clean ?? 0;
  $("needle").style.left = `${messy * 100}%`;
  $("meter").setAttribute("aria-valuenow", String(Math.round(messy * 100)));
  $("meter").classList.toggle("muted", result.not_a_room);
  $("score-clean").textContent = `clean ${Math.round(clean * 100)}%`;
  $("score-messy").textContent = `messy ${Math.round(messy * 100)}%`;
  box.dataset.json = JSON.stringify(result);
  box.hidden = false;
}

/** Shade the "hard to say" band on the meter: messy probability between 1 - threshold and threshold. */
function drawBand(threshold) {
  $("band").style.left = `${(1 - threshold) * 100}%`;
  $("band").style.width = `${(2 * threshold - 1) * 100}%`;
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function setStatus(text) {
  $("status").textContent = text;
}

// ------------------------------------------------------------------ input: file, drop, camera

async function handlePhoto(state, blob) {
  if (!state.model) {
    showMessage("The model is still loading: try again in a moment.");
    return;
  }
  showMessage("");
  setStatus("Looking…");
  delete $("result").dataset.json;
  let url;
  try {
    const started = performance.now();
    const photo = await readPhoto(blob, state.settings);
    url = photo.url;
    const result = await classify(state, photo.image, photo.jpeg);
    const milliseconds = Math.round(performance.now() - started);
    showResult(result, url, state.settings.unsure_threshold);
    $("result").dataset.ms = String(milliseconds);
    $("result").dataset.inferenceMs = String(Math.round(state.inferenceMs));
    setStatus(`Done in ${milliseconds} ms, on this device. Try another photo.`);
  } catch (error) {
    if (url) URL.revokeObjectURL(url);
    $("result").hidden = true;
    const reason = error instanceof PhotoError ? error.message : "something went wrong while checking it";
    showMessage(`Can't check this photo: ${reason}.`);
    setStatus("Ready: choose a photo.");
    if (!(error instanceof PhotoError)) console.error(error);
  }
}

function wireFileInputs(state) {
  const input = $("photo"), drop = $("drop");
  input.addEventListener("change", () => {
    if (input.files.length) handlePhoto(state, input.files[0]);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) handlePhoto(state, file);
  });
}

function wireCamera(state) {
  const video = $("camera-view");
  let stream = null;
  let facing = "environment";  // the back camera first: rooms are in front of you, not behind

  const stop = () => {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    $("camera").hidden = true;
  };
  const start = async () => {
    stop();
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: facing }, audio: false });
    } catch (error) {
      showMessage(`The camera is not available: ${error.message || error.name}. Choose a photo instead.`);
      return;
    }
    video.srcObject = stream;
    $("camera").hidden = false;
    await video.play().catch(() => {});
  };

  if (!navigator.mediaDevices?.getUserMedia) {
    $("camera-open").hidden = true;
    return;
  }
  $("camera-open").addEventListener("click", start);
  $("camera-close").addEventListener("click", stop);
  $("camera-switch").addEventListener("click", () => {
    facing = facing === "environment" ? "user" : "environment";
    start();
  });
  $("camera-snap").addEventListener("click", () => {
    if (!video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    stop();
    canvas.toBlob((blob) => blob && handlePhoto(state, blob), "image/jpeg", 0.92);
  });
}

// ------------------------------------------------------------------ start

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("sw.js");
  } catch (error) {
    console.warn("no offline support:", error);
  }
}

async function main() {
  registerServiceWorker();
  const state = {};
  wireFileInputs(state);
  wireCamera(state);
  $("photo").disabled = true;
  try {
    state.settings = await loadSettings();
    if (state.settings.server_app) $("server-link").hidden = false;
    drawBand(state.settings.unsure_threshold);
    configureTransformers(state.settings);
    Object.assign(state, await loadModel(state.settings));
  } catch (error) {
    console.error(error);
    setStatus("The model could not be loaded. Check your connection and reload the page.");
    document.body.dataset.ready = "error";
    return;
  }
  $("photo").disabled = false;
  setStatus("Ready: choose a photo, drop one here, or use the camera.");
  document.body.dataset.ready = "true";
  document.body.dataset.threads = String(env.backends.onnx.wasm.numThreads);
}

main();
