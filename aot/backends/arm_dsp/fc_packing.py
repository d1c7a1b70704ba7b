"""Weights of the arm-dsp fully connected kernels (templates/arm-dsp/int8/fc_packed.c.j2), rearranged at
compile time into the words the inner loop loads, in the order it loads them: one pointer walks them
all with post-incrementing LDRDs.

An input word x0 x1 x2 x3 is unpacked once per pass over the input by SXTB16 into the int16 lanes
(x0, x2) and (x1, x3), so every weight word below pairs lanes k0, k2 then k1, k3 of a block of four k.

- "int8" (the default: as many weight bytes as the model): two output rows share one word. Row ``hi``
  goes to the high byte of each int16 lane, row ``lo`` biased by +128 to the low byte, so the lane is
  256 * w_hi + (w_lo + 128) exactly. One SMLAD of the raw word accumulates 256 * dot_hi + dot_lo' and
  one SMLAD of its UXTB16 (the low bytes) dot_lo'; dot_hi is their difference over 256 and dot_lo' is
  dot_lo + 128 * sum(x). Four products cost half an LDRD, one UXTB16 and two SMLADs instead of a load,
  two SXTB16 and two SMLADs. The difference is exact while |dot_hi| < 2^23 (``pairs_fit``).
- "int16" (twice the weight bytes, ``--backend-option arm-dsp.weights=int16``): each word holds two
  int16 weights, so four products cost one LDRD and two SMLADs.

A layer is split into passes over the input: full groups of rows, then smaller ones (see ``passes``).
The K % 4 last weights of each row stay int8 in their own row-major table, for a scalar tail.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import AotError
from ...ir import Graph, Node

OPTION = "weights"  # also chooses the tiled Conv's weights (kernels.py)
CHOICES = ("int8", "int16")
PAIR_LIMIT = 1 << 23  # |dot_hi| must stay below this for (256 * dot_hi) mod 2^32 to give dot_hi back
# Measured on ad01_int8 (cortex-m4, gcc and clang -O2): more rows per pass run out of the 14 core
# registers (accumulators, two input lanes, two loaded words, two pointers, the loop end) and spill.
PAIRS_PER_PASS = 3  # int8: row pairs sharing one pass over the input
ROWS_PER_PASS = 6  # int16: rows sharing one pass over the input
UNROLL = 4  # blocks of four k per loop iteration


def weights_choice(graph: Graph, node: Node | None = None) -> str:
    """The arm-dsp backend's ``weights`` option for ``node`` (its own, else this compile's), checked."""
    value = graph.backend_option("arm-dsp", OPTION, node.name if node is not None else None) or CHOICES[0]
    if value not in CHOICES:
        raise AotError(f"--backend-option arm-dsp.{OPTION}={value}: expected one of {', '.join(CHOICES)}")
    return value


def pairs_fit(w: np.ndarray) -> bool:
    """Whether every row may go to the high bytes: |dot| <= 128 * sum |w| stays below 2^23."""
    return int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0)) * 128 < PAIR_LIMIT


@dataclass(frozen=True)
class Pass:
    first: int  # first output row
    count: int  # passes of this shape, one after another
    rows: int  # output rows per pass (a pair counts two)
    kind: str  # "pairs" (int8, two rows per word), "single" (int8, one row), "wide" (int16)


def passes(n: int, mode: str) -> list[Pass]:
    """The passes over the input covering rows 0..n-1: groups as large as the registers allow, then
    what is left in smaller ones."""
    out: list[Pass] = []
    first = 0
    shapes = [(2 * p, "pairs") for p in range(PAIRS_PER_PASS, 0, -1)] + [(1, "single")] if mode == "int8" else \
             [(r, "wide") for r in range(ROWS_PER_PASS, 0, -1)]
    for rows, kind in shapes:
        count = (n - first) // rows
        if count:
            out.append(Pass(first, count, rows, kind))
            first += count * rows
    return out


def _words(lanes16: np.ndarray) -> np.ndarray:
    """int16 lanes [..., 2] (low, high) -> int32 words."""
    return np.ascontiguousarray(lanes16.astype("<i2")).view("<i4")[..., 0]


def _block_lanes(w: np.ndarray) -> np.ndarray:
    """[rows, K4, 2 words, 2 lanes]: lanes (k0, k2) then (k1, k3) of each block of four k."""
    b = w[:, : w.shape[1] // 4 * 4].reshape(w.shape[0], -1, 4).astype(np.int32)
    return np.stack([b[:, :, [0, 2]], b[:, :, [1, 3]]], axis=2)


def pack(w: np.ndarray, mode: str) -> list[int]:
    """The int32 words the kernel loads, pass by pass (``passes``), block of four k by block."""
    words: list[np.ndarray] = []
    for p in passes(w.shape[0], mode):
        for g in range(p.count):
            rows = w[p.first + g * p.rows: p.first + (g + 1) * p.rows]
            lanes = _block_lanes(rows)  # [rows, K4, 2, 2]
            if p.kind == "pairs":
                hi, lo = lanes[0::2], lanes[1::2] + 128  # lane = 256 * w_hi + (w_lo + 128)
                lanes = hi * 256 + lo  # [pairs, K4, 2, 2]
                words.append(_words(lanes.transpose(1, 0, 2, 3)).reshape(-1))  # block, pair, word
            elif p.kind == "wide":
                words.append(_words(lanes.transpose(1, 0, 2, 3)).reshape(-1))  # block, row, word
            else:  # one int8 row: its bytes as they are (SXTB16 gives lanes k0, k2 and k1, k3)
                b = rows[:, : w.shape[1] // 4 * 4].astype("<i1")
                words.append(np.ascontiguousarray(b).view("<i4").reshape(-1))
    return np.concatenate(words).astype(np.int64).tolist() if words else []


def pack_bytes(n: int, k: int, mode: str) -> int:
    """Bytes of the packed words and the tail table of an [n, k] layer."""
    per_row = (k // 4) * (4 if mode == "int8" else 8)
    return n * per_row + n * (k % 4)
