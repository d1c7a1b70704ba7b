"""Build a generated library on the host and call it in-process through ctypes.

The function signatures come from the library's own header (``<prefix>.h``, named in metadata.json),
parsed with pycparser, so what Python calls is exactly what a C user would call. A library compiled
with ``--weights-file bin`` gets its blob loaded and ``<prefix>_weights_base`` set, as a firmware would.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from pycparser import c_ast

from ..codegen.csyntax import parse_c
from ..codegen.library_files import api_header, weights_blob
from ..errors import AotError
from ..ir.formats import FORMATS, from_storage, to_storage

_CTYPES = {"float": ctypes.c_float, "double": ctypes.c_double, "int8_t": ctypes.c_int8, "uint8_t": ctypes.c_uint8,
           "int16_t": ctypes.c_int16, "uint16_t": ctypes.c_uint16, "int32_t": ctypes.c_int32,
           "uint32_t": ctypes.c_uint32, "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64}


def find_compiler(cc: str = "cc") -> str:
    path = shutil.which(cc)
    if path is None:
        raise AotError(f"C compiler '{cc}' not found; install it (Debian: apt-get install gcc clang)")
    return cc


def build_shared(lib_dir: Path, cc: str = "cc", cflags: str = "-O2") -> Path:
    """``make lib<prefix>.so`` in the library folder with the given compiler and flags."""
    lib_dir = Path(lib_dir)
    prefix = json.loads((lib_dir / "metadata.json").read_text())["prefix"]
    target = f"lib{prefix}.so"
    find_compiler(cc)
    (lib_dir / target).unlink(missing_ok=True)
    # AOT_WERROR=1: aot's own builds hold the generated C to -Werror (users get warnings only).
    proc = subprocess.run(["make", "-s", "-C", str(lib_dir), target, f"CC={cc}", f"CFLAGS={cflags}", "AOT_WERROR=1"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AotError(f"building {target} with {cc} failed:\n{proc.stdout}{proc.stderr}")
    return lib_dir / target


def read_signature(header: Path, function: str) -> list[tuple[str, str, bool]]:
    """(parameter name, C base type, is pointer) for ``function`` declared in ``header``."""
    ast = parse_c(header)
    for ext in ast.ext:
        if isinstance(ext, c_ast.Decl) and ext.name == function and isinstance(ext.type, c_ast.FuncDecl):
            params = []
            for p in ext.type.args.params:
                ptr = isinstance(p.type, c_ast.PtrDecl)
                base = p.type.type if ptr else p.type
                names = base.type.names if isinstance(base, c_ast.TypeDecl) and hasattr(base.type, "names") else ["void"]
                params.append((p.name, " ".join(names), ptr))
            return params
    raise AotError(f"{header.name} declares no function '{function}'")


def _load_fresh(shared_object: Path) -> ctypes.CDLL:
    """dlopen a private copy: the dynamic loader returns an already-loaded library for a path it
    has seen, so a library rebuilt in place would otherwise silently keep running the old code."""
    fd, copy = tempfile.mkstemp(prefix=shared_object.stem + "-", suffix=".so")
    os.close(fd)
    try:
        shutil.copyfile(shared_object, copy)
        return ctypes.CDLL(copy)
    finally:
        os.unlink(copy)  # the mapping stays valid after the name is gone


class HostModel:
    """A built library loaded in this process; ``run`` maps input arrays to output arrays."""

    def __init__(self, lib_dir: Path, shared_object: Path):
        self.dir = Path(lib_dir)
        self.meta = json.loads((self.dir / "metadata.json").read_text())
        prefix = self.meta["prefix"]
        header = api_header(self.meta)
        self.signature = read_signature(self.dir / header, f"{prefix}_run")
        expected = [t["name"] for t in self.meta["inputs"] + self.meta["outputs"]]
        if [p[0] for p in self.signature] != expected:
            raise AotError(f"{header} declares {prefix}_run({[p[0] for p in self.signature]}), metadata.json "
                           f"lists {expected}")
        self._lib = _load_fresh(Path(shared_object))
        self._weights = self._set_weights_base()
        self._fn = getattr(self._lib, f"{prefix}_run")
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [ctypes.POINTER(_CTYPES[base]) for _, base, _ in self.signature]

    def _set_weights_base(self) -> np.ndarray | None:
        """--weights-file bin: the blob read into aligned memory that lives as long as this model, and
        the library's base pointer set to it."""
        blob = weights_blob(self.meta)
        if blob is None:
            return None
        data = np.frombuffer((self.dir / blob["blob"]).read_bytes(), np.uint8)
        align = int(blob["alignment"])
        raw = np.zeros(data.size + align, np.uint8)  # at least one byte: a NULL base is an error
        start = -raw.ctypes.data % align
        raw[start:start + data.size] = data
        ctypes.c_void_p.in_dll(self._lib, blob["base_symbol"]).value = raw.ctypes.data + start
        return raw

    @property
    def inputs(self) -> list[dict]:
        return self.meta["inputs"]

    @property
    def outputs(self) -> list[dict]:
        return self.meta["outputs"]

    def prepare(self, feeds: dict[str, np.ndarray] | list[np.ndarray]) -> list[np.ndarray]:
        arrays = []
        for idx, spec in enumerate(self.inputs):
            value = feeds[idx] if isinstance(feeds, list) else feeds.get(spec["onnx_name"], feeds.get(spec["name"]))
            if value is None:
                raise AotError(f"no value given for input '{spec['onnx_name']}'")
            value = np.asarray(value)
            if value.size != spec["size"]:
                raise AotError(f"input '{spec['onnx_name']}' needs shape {spec['shape']}, got {list(value.shape)}")
            arrays.append(np.ascontiguousarray(value.reshape(spec["shape"]).astype(spec["dtype"], copy=False)))
        return arrays

    def run(self, feeds: dict[str, np.ndarray] | list[np.ndarray]) -> list[np.ndarray]:
        ins = self.prepare(feeds)
        outs = [np.zeros(o["shape"], dtype=o["dtype"]) for o in self.outputs]
        self.call(ins, outs)
        return outs

    def call(self, ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        # Narrow formats (float16, bfloat16, float8, int4...) cross as the C buffers' bits: one value per
        # element, small integers sign-extended (aot/ir/formats.py); other arrays are passed in place.
        c_ins = [to_storage(a) if a.dtype.name in FORMATS else a for a in ins]
        c_outs = [np.zeros(a.shape, FORMATS[a.dtype.name].storage) if a.dtype.name in FORMATS else a for a in outs]
        ptrs = [a.ctypes.data_as(argtype) for a, argtype in zip(c_ins + c_outs, self._fn.argtypes)]
        status = self._fn(*ptrs)
        if status != 0:
            raise AotError(f"{self.meta['prefix']}_run returned status {status}")
        for out, c_out in zip(outs, c_outs):
            if c_out is not out:
                out[...] = from_storage(c_out, FORMATS[out.dtype.name])


def load(lib_dir: Path, cc: str = "cc", cflags: str = "-O2") -> HostModel:
    return HostModel(lib_dir, build_shared(lib_dir, cc, cflags))
