"""Real data sets shipped inside the package, read from disk, never downloaded.

Each file's origin, licence and SHA-256 are in this folder's README.md; the checksum is
verified on every load, so a damaged or replaced file is refused rather than trained on.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from importlib import resources

from ..lazy import np

#: The digits data set: 1,797 8x8 grey-level images of handwritten digits 0-9.
DIGITS_FILE = "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
DIGITS_SAMPLES = 1797
DIGITS_CLASSES = 10
#: Input shapes a digits scenario may ask for: an image (channels last) or the flat 64 pixels.
DIGITS_SHAPES = ((8, 8, 1), (64,))
#: The file's pixels are counts of "on" cells in a 4x4 block: 0..16.
DIGITS_MAX_PIXEL = 16


class DatasetError(RuntimeError):
    """A shipped data file that is missing or not the file recorded in the README."""


def _read_verified(name: str, sha256: str) -> bytes:
    """The bytes of shipped file `name`, after checking them against `sha256`."""
    path = resources.files(__name__) / name
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"the packaged data file {name} cannot be read ({err}); "
                           "reinstall fwcompare-tui") from None
    found = hashlib.sha256(raw).hexdigest()
    if found != sha256:
        raise DatasetError(f"the packaged data file {name} is damaged or was replaced: SHA-256 "
                           f"{found}, expected {sha256}; reinstall fwcompare-tui")
    return raw


@lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: images (n, 8, 8) float32 scaled to [0, 1] (pixel / 16), labels int64.

    In the file's order. The arrays are read-only (they are cached and shared).
    """
    text = gzip.decompress(_read_verified(DIGITS_FILE, DIGITS_SHA256)).decode("ascii")
    table = np.array([row.split(",") for row in text.split()], dtype=np.int64)
    if table.shape != (DIGITS_SAMPLES, 65):
        raise DatasetError(f"{DIGITS_FILE}: expected {DIGITS_SAMPLES} rows of 65 numbers, "
                           f"got {table.shape}")
    x = (table[:, :64].reshape(-1, 8, 8) / DIGITS_MAX_PIXEL).astype(np.float32)
    y = table[:, 64].copy()
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
