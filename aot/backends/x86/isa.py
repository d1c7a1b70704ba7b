"""What differs between the x86 backends' instruction sets, for the kernel modules that register the
same kernels on each (float_kernels.py, int8_kernels.py): the template folder, the vector width and
the register-blocking constants, so the selection rules and packing are written once."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VectorIsa:
    folder: str  # templates/<folder>/: one template per kernel family for this instruction set
    suffix: str  # kernel names end with it: float/conv_nhwc_<suffix>
    lanes: int  # float (or int32) lanes of a vector
    # int8 Conv: int32 vectors a pass keeps in registers, and the sixteen-pixel units a tile may have
    accumulators: int
    tile_units: tuple[int, ...]
    fc_blocks: int  # fully connected: blocks of sixteen outputs that share an input broadcast, at most
    # int8: within a block of sixteen outputs, the output in each int32 lane of its vectors
    lane_output: tuple[int, ...]

    @property
    def unit_vectors(self) -> int:
        """int32 vectors of one sixteen-pixel unit."""
        return 16 // self.lanes


# 256-bit vectors; VPUNPCKLWD / VPUNPCKHWD interleave 128-bit halves, hence the lane order (aot_x86.h).
AVX2 = VectorIsa(folder="x86-avx2", suffix="avx2", lanes=8, accumulators=8, tile_units=(4, 2, 1), fc_blocks=4,
                 lane_output=(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15))
# 128-bit vectors, outputs in order; a unit is four vectors, so a tile is two units of one channel or one
# unit of two (8 accumulators; 12, three channels a unit, measured no faster), a fully connected pass two blocks.
SSE4 = VectorIsa(folder="x86-sse4", suffix="sse4", lanes=4, accumulators=8, tile_units=(2, 1), fc_blocks=2,
                 lane_output=tuple(range(16)))
