"""The data channel between the sandboxed worker and the trusted grader.

Messages are single JSON lines. Arrays travel as ``.npy`` bytes (base64) written
and read with ``allow_pickle=False``; tensors are turned into arrays on the worker
side and tagged so that the trusted side can turn them back. Nothing that crosses
the channel is ever unpickled.

This module runs on both sides of the boundary and imports neither torch nor
anything from the rest of the grader.
"""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np

ARRAY_TAG = "__ndarray__"
TENSOR_TAG = "__tensor__"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32
MAX_ARRAYS = 10_000
"""Arrays and tensors in one message (a probe sends a few dozen at most): each costs a
header to parse, and 300,000 empty ones in one message took 10 s to read."""
MAX_HEADERS = 256
"""``.npy`` headers remembered each way (see ``_HEADERS``)."""
ARRAY_KINDS = "biufcSU"
"""The kinds of array that cross: booleans, integers, floats, complex numbers, strings."""


class ChannelError(ValueError):
    """A message that is not well-formed data (wrong type, too big, too deep)."""


_WRITTEN: dict[tuple, bytes] = {}
"""``.npy`` headers already written, by (dtype, shape, Fortran order): see ``_HEADERS``."""


def _array_to_b64(array: np.ndarray) -> str:
    array = np.asarray(array)
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    key = (array.dtype.str, array.shape, fortran)
    header = _WRITTEN.get(key) if array.dtype.kind in ARRAY_KINDS else None
    if header is None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)  # 0-d arrays stay 0-d
        data = buffer.getvalue()
        if array.dtype.kind in ARRAY_KINDS:
            if len(_WRITTEN) >= MAX_HEADERS:
                _WRITTEN.clear()
            _WRITTEN[key] = data[: len(data) - array.nbytes]
        return base64.b64encode(data).decode("ascii")
    body = array.tobytes(order="F" if fortran else "C")
    return base64.b64encode(header + body).decode("ascii")


_HEADERS: dict[bytes, tuple] = {}
"""``.npy`` headers already read and checked -> (shape, fortran order, dtype): a stand-in's
question and answer repeat the same few thousand times in one call (grader.inside.probes.standins),
and reading a header costs more than the numbers behind it."""


def _header(raw: bytes) -> tuple[tuple, bool, np.dtype, int]:
    """The checked header of ``.npy`` bytes and where the numbers start."""
    start = {1: 10, 2: 12}.get(raw[6]) if raw[:6] == b"\x93NUMPY" and len(raw) > 12 else None
    if start is not None:
        length = int.from_bytes(raw[8:start], "little")
        known = _HEADERS.get(raw[: start + length])
        if known is not None:
            return (*known, start + length)
    stream = io.BytesIO(raw)
    read_header = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }.get(np.lib.format.read_magic(stream))
    if read_header is None:
        raise ValueError("unknown .npy version")
    shape, fortran, dtype = read_header(stream)
    if dtype.hasobject or not isinstance(shape, tuple):
        raise ValueError("object arrays cannot cross the channel")
    if dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0:
        raise ValueError(f"arrays of {dtype} cannot cross the channel")
    if len(_HEADERS) >= MAX_HEADERS:
        _HEADERS.clear()
    _HEADERS[raw[: stream.tell()]] = (shape, bool(fortran), dtype)
    return shape, bool(fortran), dtype, stream.tell()


def _b64_to_array(text: str) -> np.ndarray:
    """An array from ``.npy`` bytes, after checking its header against the payload's size.

    Without the check a forged header (a shape of 10**12) would make NumPy try to allocate
    terabytes here on the trusted side. Only numbers, booleans and strings cross, each item
    at least a byte: an item of no bytes (``|V0``, ``<U0``) would let a header claim 10**12
    of them over an empty payload, for the checks to walk. The numbers are copied out of
    the payload, never unpickled.
    """
    if not isinstance(text, str):
        raise ChannelError("array payload is not a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        shape, fortran, dtype, offset = _header(raw)
        count = math.prod(shape)
        if count * dtype.itemsize != len(raw) - offset:
            raise ValueError(f"the header's shape {shape} does not match the data")
        flat = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")
    except (ValueError, OSError, TypeError, SyntaxError, MemoryError) as exc:
        raise ChannelError(f"malformed array payload: {exc}") from None


def _is_tensor(value) -> bool:
    cls = type(value)
    return (
        cls.__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "numpy")
    )


def encode(value, _depth: int = 0):
    """Turn plain data, arrays and tensors into a JSON-ready structure."""
    if _depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ChannelError("object arrays cannot cross the channel")
        return {ARRAY_TAG: _array_to_b64(value)}
    if _is_tensor(value):
        array = value.detach().cpu()
        dtype = str(array.dtype).removeprefix("torch.")
        if dtype == "bfloat16":
            array = array.float()
        return {TENSOR_TAG: _array_to_b64(array.numpy()), "dtype": dtype}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ChannelError(f"dict key {key!r} is not a string")
            out[key] = encode(item, _depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [encode(item, _depth + 1) for item in value]
    raise ChannelError(f"a value of type {type(value).__name__} cannot cross the channel")


def decode(value, _depth: int = 0, _arrays: list[int] | None = None):
    """Inverse of :func:`encode`; tensors come back as numpy arrays tagged by ``Tensor``."""
    if _depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if _arrays is None:
        _arrays = [MAX_ARRAYS]  # what is left of the message's arrays
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode(item, _depth + 1, _arrays) for item in value]
    if isinstance(value, dict):
        if ARRAY_TAG in value or TENSOR_TAG in value:
            _arrays[0] -= 1
            if _arrays[0] < 0:
                raise ChannelError(f"more than {MAX_ARRAYS} arrays in one message")
        if ARRAY_TAG in value:
            return _b64_to_array(value[ARRAY_TAG])
        if TENSOR_TAG in value:
            return Tensor(_b64_to_array(value[TENSOR_TAG]), str(value.get("dtype", "")))
        return {str(key): decode(item, _depth + 1, _arrays) for key, item in value.items()}
    raise ChannelError(f"unexpected JSON value of type {type(value).__name__}")


class Tensor(np.ndarray):
    """A numpy array that was a torch tensor on the worker side (``.torch_dtype`` says which)."""

    def __new__(cls, array: np.ndarray, torch_dtype: str):
        obj = np.asarray(array).view(cls)
        obj.torch_dtype = torch_dtype
        return obj

    def __array_finalize__(self, obj):
        self.torch_dtype = getattr(obj, "torch_dtype", "")


def dumps(message: dict) -> bytes:
    """One message as a JSON line (NaN and infinities allowed)."""
    return (json.dumps(encode(message), allow_nan=True) + "\n").encode("utf-8")


def loads(line: bytes):
    """Parse one JSON line received over the channel."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise ChannelError(f"message of {len(line)} bytes is over the limit")
    try:
        data = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON, UTF-8, huge ints, deep nesting
        raise ChannelError(f"message is not JSON: {str(exc)[:200]}") from None
    return decode(data)


def is_finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
