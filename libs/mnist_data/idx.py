"""Reader and writer of the IDX format MNIST is distributed in (`train-images-idx3-ubyte[.gz]`, ...).

Format (big-endian): two zero bytes, a dtype code, the number of dimensions `d`, then `d`
uint32 sizes, then the data in row-major order. MNIST uses dtype 0x08 (uint8): images are
`[N, 28, 28]`, labels `[N]`.
"""

import gzip
import os

import numpy as np

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file, gzip-compressed or not (detected from its first bytes).

    Returns:
      The array in its native byte order (uint8 for MNIST), shaped as the header says.

    Raises:
      FileNotFoundError: no such file.
      ValueError: bad magic, unknown dtype code, or a size that disagrees with the header;
        the message names the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such IDX file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {data[:4].hex()})")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header_len != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} bytes of data), "
            f"file has {len(data) - header_len}"
        )
    array = np.frombuffer(data, dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str, array: np.ndarray) -> None:
    """Writes a uint8 array as one uncompressed IDX file (the inverse of read_idx)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: write_idx writes uint8 arrays, got {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with open(path, "wb") as f:
        f.write(header + array.tobytes())
