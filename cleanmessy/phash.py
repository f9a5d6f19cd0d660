"""A 64-bit perceptual hash (DCT pHash) and a small index for near-duplicate look-ups.

Two images whose hashes differ in few bits (Hamming distance) look alike: resizing, JPEG
re-encoding or small colour shifts move a hash by a few bits, while unrelated photos differ
in about 32 of the 64.

>>> from PIL import Image
>>> h = phash(Image.new("RGB", (64, 64), "white"))
>>> hamming(h, h)
0
"""

from __future__ import annotations

import numpy as np
from PIL import Image

NEAR_DUPLICATE_DISTANCE = 6
"""Default Hamming distance for "the same picture". Measured on the shared room photos: resizing and
JPEG re-encoding move a hash by at most 2-4 bits, a 15% brightness change by up to 8 (mostly
under 4), while the closest two unrelated photos were 16 bits apart."""

_SIDE = 32  # the image is reduced to 32x32 grey before the DCT
_KEEP = 8  # the 8x8 lowest frequencies make the 64 bits


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0, :] = np.sqrt(1.0 / n)
    return matrix


_DCT = _dct_matrix(_SIDE)


def phash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash of ``image`` as an unsigned int."""
    grey = np.asarray(image.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT @ grey @ _DCT.T)[:_KEEP, :_KEEP].ravel()
    bits = low > np.median(low[1:])  # the DC term only reflects brightness: leave it out of the median
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def to_hex(value: int) -> str:
    """A hash as 16 lowercase hex digits (the manifest's format)."""
    return f"{value:016x}"


def from_hex(text: str) -> int:
    """Parse a hash written by :func:`to_hex`."""
    value = int(text, 16)
    if not 0 <= value < 2**64 or len(text) != 16:
        raise ValueError(f"not a 64-bit hex perceptual hash: {text!r}")
    return value


class HashIndex:
    """Hashes with a key each; finds the nearest stored hash within a distance (vectorised scan)."""

    def __init__(self) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._keys: list[str] = []

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, value: int, key: str) -> None:
        """Store ``value`` under ``key`` (keys need not be unique)."""
        if len(self._keys) == len(self._hashes):
            grown = np.zeros(max(64, 2 * len(self._hashes)), dtype=np.uint64)
            grown[: len(self._hashes)] = self._hashes
            self._hashes = grown
        self._hashes[len(self._keys)] = value
        self._keys.append(key)

    def distances(self, value: int) -> np.ndarray:
        """Hamming distance from ``value`` to every stored hash, in insertion order."""
        stored = self._hashes[: len(self._keys)]
        return np.bitwise_count(stored ^ np.uint64(value)).astype(np.int64)

    def nearest(self, value: int, max_distance: int) -> tuple[str, int] | None:
        """``(key, distance)`` of the closest stored hash if it is within ``max_distance``, else ``None``."""
        if not self._keys:
            return None
        distances = self.distances(value)
        best = int(np.argmin(distances))
        return (self._keys[best], int(distances[best])) if distances[best] <= max_distance else None
