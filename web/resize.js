// Shrink a photo exactly the way the Python predictor does (Pillow), so the page and the server agree.
//
// transformers.js resizes with the browser's canvas (bilinear, no antialiasing), while the Python
// predictor uses Pillow: an optional JPEG "draft" decode at 1/2, 1/4 or 1/8 scale, then
// Image.resize(size, resample, reducing_gap=3), i.e. an integer box reduce followed by Pillow's separable
// convolution resampler in 8-bit fixed point. Doing the same arithmetic here keeps the two within float
// rounding of each other instead of a few percent apart. The caller still takes the target size and
// the filter from preprocessor_config.json (through the transformers.js image processor).
//
// Images are {data: Uint8Array|Uint8ClampedArray (RGB, row-major), width, height}.

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const REDUCING_GAP = 3.0;

function sinc(x) {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

/** Pillow's filters by its resample numbers (NEAREST = 0 is not a convolution: not handled here). */
export const FILTERS = {
  1: { support: 3, weight: (x) => (-3 < x && x < 3 ? sinc(x) * sinc(x / 3) : 0) },          // LANCZOS
  2: { support: 1, weight: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },          // BILINEAR
  3: {                                                                                        // BICUBIC
    support: 2,
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  4: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },                        // BOX
  5: { support: 1, weight: (x) => { x = Math.abs(x); return x < 1 ? 0.54 + 0.46 * Math.cos(Math.PI * x) : 0; } }, // HAMMING
};

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, a source range and fixed-point weights. */
function coefficients(inSize, in0, in1, outSize, filter) {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const raw = new Float64Array(ksize);
  const ss = 1 / filterScale;  // Pillow multiplies by the reciprocal: dividing rounds differently
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      raw[x] = filter.weight((x + xmin - center + 0.5) * ss);
      total += raw[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = total !== 0 ? raw[x] / total : raw[x];
      weights[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, weights, bounds };
}

function clip8(sum) {
  const value = Math.floor(sum / ONE);
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

function horizontal(image, rowFirst, rowCount, outWidth, { ksize, weights, bounds }) {
  const out = new Uint8Array(outWidth * rowCount * 3);
  const { data, width } = image;
  for (let y = 0; y < rowCount; y++) {
    const row = (y + rowFirst) * width;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], k = xx * ksize;
      let r = HALF, g = HALF, b = HALF;
      for (let x = 0; x < xmax; x++) {
        const p = (row + xmin + x) * 3, w = weights[k + x];
        r += data[p] * w; g += data[p + 1] * w; b += data[p + 2] * w;
      }
      const o = (y * outWidth + xx) * 3;
      out[o] = clip8(r); out[o + 1] = clip8(g); out[o + 2] = clip8(b);
    }
  }
  return { data: out, width: outWidth, height: rowCount };
}

function vertical(image, outHeight, { ksize, weights, bounds }) {
  const { data, width } = image;
  const out = new Uint8Array(width * outHeight * 3);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1], k = yy * ksize;
    for (let x = 0; x < width; x++) {
      let r = HALF, g = HALF, b = HALF;
      for (let y = 0; y < ymax; y++) {
        const p = ((ymin + y) * width + x) * 3, w = weights[k + y];
        r += data[p] * w; g += data[p + 1] * w; b += data[p + 2] * w;
      }
      const o = (yy * width + x) * 3;
      out[o] = clip8(r); out[o + 1] = clip8(g); out[o + 2] = clip8(b);
    }
  }
  return { data: out, width, height: outHeight };
}

/** Pillow's ImagingResample of the source box [x0, y0, x1, y1] to width × height. */
function resample(image, width, height, filter, box) {
  const [x0, y0, x1, y1] = box;
  const needHorizontal = width !== image.width || x0 !== 0 || x1 !== width;
  const needVertical = height !== image.height || y0 !== 0 || y1 !== height;
  const horiz = coefficients(image.width, x0, x1, width, filter);
  const vert = coefficients(image.height, y0, y1, height, filter);
  const rowFirst = vert.bounds[0];
  const rowLast = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1];
  let current = image;
  if (needHorizontal) {
    for (let i = 0; i < height; i++) vert.bounds[i * 2] -= rowFirst;
    current = horizontal(image, rowFirst, rowLast - rowFirst, width, horiz);
  }
  if (needVertical) current = vertical(current, height, vert);
  return current;
}

/** Pillow's division_UINT32(divider, 8): a float32 reciprocal for averaging `divider` values. */
function multiplier(divider) {
  return Math.trunc(Math.fround(Math.fround(4294967296) / Math.fround(256 * divider)));
}

/** Pillow's Image.reduce((fx, fy)): the mean of each fx × fy block (smaller blocks at the right and bottom edges). */
export function reduce(image, fx, fy) {
  const { data, width, height } = image;
  const outWidth = Math.ceil(width / fx), outHeight = Math.ceil(height / fy);
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let oy = 0; oy < outHeight; oy++) {
    const ys = oy * fy, ye = Math.min(ys + fy, height);
    for (let ox = 0; ox < outWidth; ox++) {
      const xs = ox * fx, xe = Math.min(xs + fx, width);
      const count = (ye - ys) * (xe - xs), mul = multiplier(count), amend = Math.floor(count / 2);
      let r = 0, g = 0, b = 0;
      for (let y = ys; y < ye; y++) {
        for (let x = xs; x < xe; x++) {
          const p = (y * width + x) * 3;
          r += data[p]; g += data[p + 1]; b += data[p + 2];
        }
      }
      const o = (oy * outWidth + ox) * 3;
      out[o] = Math.floor(((r + amend) * mul) / 2 ** 24);
      out[o + 1] = Math.floor(((g + amend) * mul) / 2 ** 24);
      out[o + 2] = Math.floor(((b + amend) * mul) / 2 ** 24);
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}

/** Pillow's Image.resize((width, height), resample, reducing_gap=3.0), or null for a filter it can't match. */
export function resize(image, width, height, resampleNumber) {
  const filter = FILTERS[resampleNumber];
  if (!filter) return null;
  if (width === image.width && height === image.height) return image;
  let source = image;
  let box = [0, 0, image.width, image.height];
  const fx = Math.trunc(image.width / width / REDUCING_GAP) || 1;
  const fy = Math.trunc(image.height / height / REDUCING_GAP) || 1;
  if (fx > 1 || fy > 1) {
    source = reduce(image, fx, fy);
    box = [0, 0, image.width / fx, image.height / fy];
  }
  return resample(source, width, height, filter, box);
}

/** Pillow's JPEG draft scale for a decode that keeps both sides at least `sizeHint`: 1, 2, 4 or 8. */
export function draftScale(width, height, sizeHint) {
  const scale = Math.min(Math.floor(width / sizeHint), Math.floor(height / sizeHint));
  for (const candidate of [8, 4, 2]) if (scale >= candidate) return candidate;
  return 1;
}
