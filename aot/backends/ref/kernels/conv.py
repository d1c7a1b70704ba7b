"""Float Conv: any group count (depthwise included), pads/auto_pad, strides, dilations, 1-3 spatial dims.

One kernel with four specialisations, chosen per layer (``variant``, one template each). All sum every
output in the order of the direct loops (bias, then input channel, then taps in (kd, kh, kw) order,
skipping taps in the padding), so they compute the same floats:
- ``pointwise`` (1x1, stride 1, no padding): a GEMM in register tiles of TILE_OC output channels x
  TILE_P positions (templates/ref/tile.j2).
- ``tiled``: the inputs of TILE_P output positions are gathered into a K x TILE_P scratch (K = input
  channels x taps), then the same tile.
- ``depthwise`` (one input channel per output channel): the output plane is cut into runs of rows and
  columns with the same valid taps, all with literal bounds; interior runs have the taps written out.
- ``direct``: the rest (few output channels, or a scratch that would be too big): weight-stationary
  loops over the valid output range of each tap.
Loop bounds are literals in the C: gcc vectorises the fixed-size loops only then.
"""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .spatial import Window, spatial_check, window

TILE_OC = 4  # output channels per tile
TILE_P = 16  # positions per tile: 4 x 16 accumulators (16 SSE registers) measured best at -O2 and -O3
TILED_MIN_OC = 4  # fewer output channels per group: gathering costs more than the tile saves
TILED_MAX_SCRATCH = 64 * 1024  # bytes of gathered inputs (K <= 1024); bigger convs run direct
UNROLL_TAPS = 32  # depthwise runs write out at most this many taps (5x5 and 3x3x3 fit)
MAX_RUNS = 9  # depthwise: most runs of distinct valid taps per dim (one C loop each)
MAX_PHASE_FLOATS = 1024  # depthwise with a stride along w: most floats of de-interleaved input rows


def conv_params(node: Node, graph: Graph) -> dict:
    """Geometry shared by the float and int8 Conv kernels."""
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    y = graph.tensors[node.outputs[0]]
    win = window(node, graph)
    group = int(node.attrs.get("group", 1))
    return {
        "win": win,
        "ranges": win.tap_ranges(),
        "N": x.shape[0], "C": x.shape[1], "OC": y.shape[1], "group": group,
        "ICG": x.shape[1] // group, "OCG": y.shape[1] // group,
        "ISP": win.in_sp[0] * win.in_sp[1] * win.in_sp[2],
        "OSP": win.out_sp[0] * win.out_sp[1] * win.out_sp[2],
        "KSP": win.kernel[0] * win.kernel[1] * win.kernel[2],
        "pointwise": win.kernel == (1, 1, 1) and win.strides == (1, 1, 1) and win.pads_begin == (0, 0, 0)
        and win.in_sp == win.out_sp,
        "has_bias": len(node.inputs) > 2 and bool(node.inputs[2]),
        "w_shape": w.shape,
    }


def conv_variant(p: dict) -> str:
    """Which specialisation runs a layer of geometry ``p`` (see the module docstring)."""
    if p["pointwise"]:
        return "pointwise"
    # one input channel and few outputs: the depthwise loops beat gathering (measured)
    many_outputs = p["OCG"] >= (TILED_MIN_OC if p["ICG"] > 1 else 2 * TILED_MIN_OC)
    if many_outputs and 4 * p["ICG"] * p["KSP"] * TILE_P <= TILED_MAX_SCRATCH:
        return "tiled"
    if p["ICG"] == 1 and all(len(_runs(dim)) <= MAX_RUNS for dim in _dims(p["win"])):
        return "depthwise"
    return "direct"


def conv_scratch(node: Node, graph: Graph) -> int:
    p = conv_params(node, graph)
    variant = conv_variant(p)
    if variant == "tiled":
        return 4 * p["ICG"] * p["KSP"] * TILE_P
    if variant == "depthwise":
        return 4 * _depthwise_plan(_dims(p["win"]), p["KSP"] <= UNROLL_TAPS)["phases"]
    return 0


def _prod(values: tuple[int, ...]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _dims(win: Window) -> list[dict]:
    """Per spatial dim (d, h, w): sizes, input and output strides, whether it is a padding dim of a
    lower-rank conv (trivial), and whether some tap of some output falls outside the input."""
    out = []
    for axis, (lo, hi) in enumerate(win.tap_ranges()):
        o = win.out_sp[axis]
        out.append({"I": win.in_sp[axis], "O": o, "K": win.kernel[axis], "s": win.strides[axis],
                    "d": win.dilations[axis], "p": win.pads_begin[axis],
                    "istride": _prod(win.in_sp[axis + 1:]), "ostride": _prod(win.out_sp[axis + 1:]),
                    "trivial": win.in_sp[axis] == o == win.kernel[axis] == 1,
                    "checked": any(a > 0 or b < o for a, b in zip(lo, hi))})
    return out


def column_blocks(positions: int, tile: int = TILE_P) -> list[tuple[int, int, int]]:
    """(first, count, size) of the tiles along a row of ``positions``: full blocks of ``tile``, then
    the tail split into a multiple of 4 (gcc -O2 vectorises only loops with no scalar remainder) and
    the last 1 to 3."""
    blocks, start = [], 0
    for size in (tile, positions % tile // 4 * 4, positions % 4):
        count = (positions - start) // size if size else 0
        if count:
            blocks.append((start, count, size))
            start += count * size
    return blocks


# -- tiled: gathering the inputs of a block of positions --------------------------------------------
def _origin_exprs(dims: list[dict]) -> list[str]:
    """C expressions of the window origin (input coordinate of tap 0) of flat output position ``p``,
    one per non-trivial dim."""
    exprs = []
    for idx, dim in enumerate(d for d in dims if not d["trivial"]):
        coord = "p" if dim["ostride"] == 1 else f"p / {dim['ostride']}"
        if idx:  # the outermost dim needs no wrap: p < its extent times its stride
            coord = f"{coord} % {dim['O']}" if dim["ostride"] == 1 else f"({coord}) % {dim['O']}"
        if dim["s"] != 1:
            coord = f"({coord}) * {dim['s']}" if idx and dim["ostride"] == 1 else f"{coord} * {dim['s']}"
        exprs.append(f"{coord} - {dim['p']}" if dim["p"] else coord)
    return exprs


# -- depthwise: runs of outputs with the same valid taps --------------------------------------------
def _runs(dim: dict) -> list[dict]:
    """Runs of consecutive outputs along one dim whose valid taps (inside the input) are the same
    range [klo, khi): one per distinct border range, and the interior (``full``)."""
    runs: list[dict] = []
    for o in range(dim["O"]):
        valid = [k for k in range(dim["K"]) if 0 <= o * dim["s"] + k * dim["d"] - dim["p"] < dim["I"]]
        klo, khi = (valid[0], valid[-1] + 1) if valid else (0, 0)
        if runs and (runs[-1]["klo"], runs[-1]["khi"]) == (klo, khi):
            runs[-1]["end"] = o + 1
        else:
            runs.append({"start": o, "end": o + 1, "klo": klo, "khi": khi})
    for run in runs:
        run["full"] = (run["klo"], run["khi"]) == (0, dim["K"])
    return runs


def _blocks(start: int, end: int) -> list[tuple[int, int, int]]:
    """column_blocks of the outputs [start, end)."""
    return [(start + first, count, size) for first, count, size in column_blocks(end - start)]


def _plus(value: int) -> str:
    return f" + {value}" if value > 0 else f" - {-value}" if value < 0 else ""


def _depthwise_plan(dims: list[dict], unroll: bool) -> dict:
    """Row types (runs of rows over d and h sharing their valid taps) and column runs. When
    ``unroll``, interior column runs go in blocks with their taps written out: each row type gets
    ``reads``, per tap (its index in W, the C expression of the input read by output ``ow0 + i``)."""
    dd, dh, dw = dims
    col_runs = _runs(dw)
    # When every column's window lies in the padding, no row has a tap either: its rows are all bias
    # (otherwise their window origin and the input and weight pointers are set and never read).
    any_column = any(c["khi"] > c["klo"] for c in col_runs)
    rows = []
    for rd in _runs(dd):
        for rh in _runs(dh):
            taps = [((kd * dh["K"] + kh) * dw["K"] + kw,
                     kd * dd["d"] * dd["istride"] + kh * dh["d"] * dh["istride"] + kw * dw["d"])
                    for kd in range(rd["klo"], rd["khi"]) for kh in range(rh["klo"], rh["khi"])
                    for kw in range(dw["K"]) if any_column]
            step = "" if dw["s"] == 1 else f" * {dw['s']}"
            reads = [(t, f"x[row + ow0{step}{_plus(off)} + i{step}]") for t, off in taps]
            rows.append({"d": rd, "h": rh, "taps": taps, "reads": reads, "flat": None})
    cols = []
    for run in col_runs:
        run["full"] = run["full"] and unroll
        run["blocks"] = _blocks(run["start"], run["end"]) if run["full"] else []
        cols.append(run)
    written_out = any(c["full"] for c in cols)
    if written_out:
        _flat_interior(dims, rows)
    phases = _phases(dims, rows) if written_out else 0
    return {"rows": rows, "cols": cols, "phases": phases,
            "used_taps": sorted({t for row in rows for t, _ in row["taps"]}) if written_out else []}


def _phases(dims: list[dict], rows: list[dict]) -> int:
    """Stride s > 1 along w: gcc -O2 does not vectorise loads s floats apart, so each output row
    first copies its input lines split by phase (column mod s) into the scratch, where the taps of a
    block of outputs are contiguous. Sets each row type's copies and reads; returns the scratch
    floats needed (0: no copies, the taps read the input directly)."""
    dd, dh, dw = dims
    s = dw["s"]
    if s == 1:
        return 0
    split = {kw: divmod(kw * dw["d"] - dw["p"], s) for kw in range(dw["K"])}  # kw -> (a, q): column (ow + a) * s + q
    phases = sorted({q for _, q in split.values()})
    width = -(-dw["I"] // s)
    size = max(len(row["taps"]) // dw["K"] for row in rows) * len(phases) * width
    if size > MAX_PHASE_FLOATS:
        return 0
    counts = [-(-(dw["I"] - q) // s) for q in phases]
    for row in rows:
        lines = [(kd, kh) for kd in range(row["d"]["klo"], row["d"]["khi"])
                 for kh in range(row["h"]["klo"], row["h"]["khi"])]
        # one loop per input line filling all its phases (reading the line in order: much faster than
        # a loop per phase), then the last column of the phases one longer than the others
        row["copies"], row["copy_tails"], row["reads"] = [], [], []
        row["copy_count"] = min(counts)
        for li, (kd, kh) in enumerate(lines):
            src = dw["p"] + kd * dd["d"] * dd["istride"] + kh * dh["d"] * dh["istride"]
            row["copies"].append([((li * len(phases) + qi) * width, src + q) for qi, q in enumerate(phases)])
            row["copy_tails"] += [((li * len(phases) + qi) * width + m, src + q + m * s)
                                  for qi, q in enumerate(phases) for m in range(min(counts), counts[qi])]
            for kw in range(dw["K"]):
                a, q = split[kw]
                offset = (li * len(phases) + phases.index(q)) * width + a
                row["reads"].append(((kd * dh["K"] + kh) * dw["K"] + kw, f"ph[ow0{_plus(offset)} + i]"))
    return size


def _flat_interior(dims: list[dict], rows: list[dict]) -> None:
    """2-D, stride 1 along w and as many outputs as inputs per row: input index = output index +
    a constant, so the interior rows run as one flat sequence of blocks, long enough to vectorise
    well even when rows are short. Its border columns pick up taps wrapped from the next row, which
    the kernel computes again afterwards; every index read stays inside the input. Sets the
    interior row type's ``flat``: its blocks and reads (output q0 + i)."""
    dd, dh, dw = dims
    if not dd["trivial"] or dw["s"] != 1 or dh["s"] * dw["I"] != dw["O"]:
        return
    full_h = [run for run in _runs(dh) if run["full"]]
    full_w = [run for run in _runs(dw) if run["full"]]
    if not full_h or not full_w:
        return
    fh, fw = full_h[0], full_w[0]
    row = next(r for r in rows if r["h"]["start"] == fh["start"])
    shift = -(dh["p"] * dw["I"] + dw["p"])
    row["flat"] = {"blocks": _blocks(fh["start"] * dw["O"] + fw["start"], (fh["end"] - 1) * dw["O"] + fw["end"]),
                   "reads": [(t, f"x[q0{_plus(shift + off)} + i]") for t, off in row["taps"]]}


def float_conv_params(node: Node, graph: Graph) -> dict:
    p = conv_params(node, graph)
    dims = _dims(p["win"])
    variant = conv_variant(p)
    K = p["ICG"] * p["KSP"]
    tile_rows = {TILE_OC, p["OCG"] % TILE_OC} - {0}
    return {**p, "variant": variant, "dims": dims, "K": K, "TILE_OC": TILE_OC, "TILE_P": TILE_P,
            "p_blocks": column_blocks(p["OSP"]), "origins": _origin_exprs(dims),
            # C expressions of tile row r (output channel oc0 + r): initial value, weight at index k
            "row_inits": {n: [f"bt[{r}]" if p["has_bias"] else "0.0f" for r in range(n)] for n in tile_rows},
            "row_weights": {n: [f"wt[{r * K} + k]" for r in range(n)] for n in tile_rows},
            "dwplan": _depthwise_plan(dims, p["KSP"] <= UNROLL_TAPS) if variant == "depthwise" else None}


REF.kernel("Conv", template="ref/conv.c.j2", check=spatial_check, scratch_bytes=conv_scratch,
           input_names=("X", "W", "B"), output_names=("Y",))(float_conv_params)
