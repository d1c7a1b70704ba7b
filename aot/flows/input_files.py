"""The one reader of ``--input`` files (``aot verify``, ``aot run``): ``.npy`` arrays, ``.npz`` archives
keyed by input name and ONNX ``.pb`` tensors, each also as ``NAME=FILE``. Every array is checked
against the compiled model's input: the exact shape, or samples stacked on a leading axis; never
reshaped, so a transposed array is an error instead of silently scrambled data. Float data given to
a quantized integer input is quantized with that input's scale and zero point, saying so on stderr.
"""
from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import AotError, did_you_mean
from ..ir import Graph
from ..ir.formats import narrow_format


@dataclass(frozen=True)
class GivenArray:
    """One input's array as read, and where it came from (for messages)."""
    value: np.ndarray
    origin: str  # "x.npy", "x.npz['input_1']"


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def read_input_files(paths: list[str], graph: Graph, model: str) -> dict[str, GivenArray]:
    """Each graph input's array from the ``--input`` files: ``NAME=FILE`` for that input, an ``.npz``
    for the inputs it names, an ``.npy`` (or a ``.pb`` tensor without a name) for the next input not
    yet given, in the model's order. Every input must be given exactly once."""
    names = [graph.tensors[i].onnx_name or i for i in graph.inputs]
    given: dict[str, GivenArray] = {}

    def put(name: str, array: GivenArray) -> None:
        if name not in names:
            raise AotError(f"{array.origin} gives input '{name}', which the model does not have; its inputs are "
                           f"{_quoted(names)}.{did_you_mean(name, names)}", model=model)
        if name in given:
            raise AotError(f"input '{name}' is given twice, by {given[name].origin} and by {array.origin}; give "
                           f"each input once", model=model)
        given[name] = array

    def next_free(origin: str) -> str:
        free = [n for n in names if n not in given]
        if not free:
            raise AotError(f"{origin} is one --input file too many: the model's {len(names)} input(s) "
                           f"{_quoted(names)} are already given; give one --input per input (NAME=FILE picks "
                           f"the input by name)", model=model)
        return free[0]

    for text in paths:
        name, path = _split_named(text)
        arrays = _read_file(path, model)
        if name is not None:
            if len(arrays) != 1:
                raise AotError(f"--input {text}: {path} holds {len(arrays)} arrays; NAME=FILE takes a file with "
                               f"one (give an .npz keyed by input name without NAME=)", model=model)
            put(name, arrays[0][1])
            continue
        for key, array in arrays:
            put(key if key is not None else next_free(array.origin), array)
    missing = [n for n in names if n not in given]
    if missing:
        raise AotError(f"no --input value for input(s) {_quoted(missing)}; the model's inputs in order are "
                       f"{_quoted(names)}: give an .npy per input in that order, NAME=FILE, or one .npz keyed "
                       f"by input name", model=model)
    return given


def _split_named(text: str) -> tuple[str | None, Path]:
    """``NAME=FILE`` -> (NAME, FILE); a file name holding '=' that exists is a file."""
    if Path(text).exists() or "=" not in text:
        return None, Path(text)
    name, _, path = text.partition("=")
    return (name or None), Path(path)


def _read_file(path: Path, model: str) -> list[tuple[str | None, GivenArray]]:
    """(input name or None for "the next input", array) for each array in the file."""
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(path.name, sorted(p.name for p in path.parent.iterdir() if p.is_file()), 0.75)
        raise AotError(f"input file '{path}' does not exist.{hint}", model=model)
    try:
        if path.suffix == ".pb":
            tensor = onnx.load_tensor(str(path))
            return [(tensor.name or None, GivenArray(numpy_helper.to_array(tensor), str(path)))]
        if path.is_file() and not _has_numpy_header(path):
            # np.load would guess "pickled data" for any other file
            raise ValueError("it has neither the .npy header nor the .npz (zip) one; save arrays with np.save or "
                             "np.savez")
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        kind = "an ONNX TensorProto (.pb)" if path.suffix == ".pb" else "a NumPy .npy or .npz file"
        raise AotError(f"input file '{path}' is not readable as {kind}: {exc}", model=model) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:  # an archive: one array per input, keyed by the input's name
            return [(key, GivenArray(loaded[key], f"{path}['{key}']")) for key in loaded.files]
    return [(None, GivenArray(loaded, str(path)))]


def _has_numpy_header(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(6).startswith((b"\x93NUMPY", b"PK\x03\x04"))  # .npy, .npz (a zip)


def sample_count(array: np.ndarray, shape: tuple[int, ...]) -> int | None:
    """0 when ``array`` is one sample of ``shape``; N when it holds N samples stacked on a leading axis
    ([N, *shape], or [N, *shape[1:]] when the model's batch dimension is 1); None otherwise."""
    if tuple(array.shape) == tuple(shape):
        return 0
    if array.ndim == len(shape) + 1 and tuple(array.shape[1:]) == tuple(shape):
        return array.shape[0]
    if shape and shape[0] == 1 and array.ndim == len(shape) and tuple(array.shape[1:]) == tuple(shape[1:]):
        return array.shape[0]
    return None


def _shape_error(name: str, shape: tuple[int, ...], given: GivenArray, model: str) -> AotError:
    expected = list(shape)
    if np.asarray(given.value).size == int(np.prod(shape, dtype=np.int64)):
        why = (f": the same number of values in another shape. aot does not reshape inputs (the values would land "
               f"on the wrong axes); save the array as {expected}, transposing it if its axes are in another order")
    else:
        why = f"; save the array as {expected}, or N samples as [N, {', '.join(map(str, shape))}]"
    return AotError(f"input '{name}' needs shape {expected} (or N of them stacked on a leading axis), but "
                    f"{given.origin} holds shape {list(np.shape(given.value))}{why}", model=model)


def input_samples(paths: list[str], graph: Graph, model: str) -> list[list[np.ndarray]]:
    """The ``--input`` files as samples: per sample one array per graph input, in the model's input
    order and dtype, each of the input's exact shape."""
    given = read_input_files(paths, graph, model)
    stacks: list[np.ndarray] = []
    counts: dict[str, int] = {}
    for tensor_name in graph.inputs:
        t = graph.tensors[tensor_name]
        name = t.onnx_name or tensor_name
        array = np.asarray(given[name].value)
        count = sample_count(array, t.shape)
        if count is None:
            raise _shape_error(name, t.shape, given[name], model)
        counts[name] = count
        stack = array.reshape((max(count, 1),) + tuple(t.shape))  # [N, *shape]: only a leading axis added
        stacks.append(convert_dtype(stack, graph, tensor_name, given[name].origin, model))
    stacked = {c for c in counts.values() if c}
    if len(stacked) > 1:
        raise AotError(f"the --input files stack different numbers of samples per input "
                       f"({', '.join(f'{n}: {c or 1}' for n, c in counts.items())}); give every input the same "
                       f"number", model=model)
    n = stacked.pop() if stacked else 1
    # An input given once with others stacked is the same for every sample.
    return [[s[i] if len(s) == n else s[0] for s in stacks] for i in range(n)]


def convert_dtype(array: np.ndarray, graph: Graph, name: str, origin: str, model: str) -> np.ndarray:
    """``array`` in the dtype of graph input ``name``. Float data for a quantized integer input is
    quantized with the input's scale and zero point (printed, with how many values saturated); other
    integer inputs take integers in their range only, never silently truncated or wrapped."""
    from .quant_check import input_quant
    t = graph.tensors[name]
    onnx_name = t.onnx_name or name
    fmt = narrow_format(t.dtype)
    if fmt is not None or np.dtype(t.dtype).kind not in "iu" or array.dtype.kind not in "fiub":
        return array.astype(t.dtype)
    info = np.iinfo(t.dtype)
    if array.dtype.kind == "f":
        q = input_quant(graph, name)
        if q is not None:
            return _quantize(array, q, info, onnx_name, origin)
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.trunc(array)):
            raise AotError(f"input '{onnx_name}' is {t.dtype} and has no scale to quantize with, but {origin} "
                           f"holds float values with fractions (or NaN/inf); give {t.dtype} values", model=model)
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < info.min or high > info.max:
        raise AotError(f"input '{onnx_name}' is {t.dtype} (range [{info.min}, {info.max}]), but {origin} holds "
                       f"values from {low:g} to {high:g}; they would wrap around", model=model)
    return array.astype(t.dtype)


def _quantize(array: np.ndarray, q, info: np.iinfo, name: str, origin: str) -> np.ndarray:
    scale, zero_point = float(np.asarray(q.scale).reshape(-1)[0]), int(np.asarray(q.zero_point).reshape(-1)[0])
    # In float32, as the model's own QuantizeLinear (and ONNX Runtime) divides; then round half to even.
    levels = np.rint(array.astype(np.float32) / np.float32(scale)).astype(np.float64) + zero_point
    saturated = int(np.count_nonzero((levels < info.min) | (levels > info.max) | np.isnan(levels)))
    print(f"note: input '{name}' is {info.dtype}: the float values of {origin} are quantized with scale {scale:g} "
          f"and zero point {zero_point}; {saturated} of {array.size} values saturated (clipped to "
          f"[{info.min}, {info.max}])", file=sys.stderr)
    return np.clip(np.nan_to_num(levels, nan=zero_point), info.min, info.max).astype(info.dtype)
