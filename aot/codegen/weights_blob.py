"""``--weights-file bin``: the weight arrays as one binary blob for external flash.

Each array sits at an offset aligned to the arena alignment (the alignment the arrays have when
compiled in), in the bytes of its C array: little-endian (every board aot knows is), narrow formats
as their storage bits, bool as uint8_t, an empty tensor as nothing. The library reads the blob through
``<prefix>_weights_base``; ``<prefix>_weights.h`` maps each array to its offset."""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from ..ir.formats import FORMATS, to_storage


def c_array_bytes(data: np.ndarray) -> bytes:
    """The bytes a C initializer of ``data`` (as aot/codegen/cformat.c_array_body writes it) puts in memory
    on a little-endian core."""
    flat = np.asarray(data).reshape(-1)
    if flat.dtype.name in FORMATS:
        flat = to_storage(flat)
    if flat.dtype == np.bool_:
        flat = flat.astype(np.uint8)
    return np.ascontiguousarray(flat.astype(flat.dtype.newbyteorder("<"))).tobytes()


def blob_layout(weights: list[dict], graph: Graph, alignment: int) -> tuple[bytes, dict[str, int]]:
    """The blob of ``weights`` (emit.render_library's list, in order) and each tensor's offset in it."""
    blob = bytearray()
    offsets: dict[str, int] = {}
    for w in weights:
        t = graph.tensors[w["tensor"]]
        blob += bytes(-len(blob) % alignment)
        offsets[w["tensor"]] = len(blob)
        blob += c_array_bytes(np.asarray(t.data).astype(t.dtype))
    return bytes(blob), offsets
