"""Tuning benchmark: `aot tune` on the shared int8 models, per board, cold then warm.

    python bench/tune.py [--boards cortex-m4,cortex-m55,host-avx2] [--only kws_int8] [-j 2]
                         [--cmsis-nn ../shared/third_party/CMSIS-NN]

For each model and board it tunes into a fresh database (cold: every configuration measured), tunes
again (warm: all from the database), and prints the README's table: each backend alone (its best
layout), the greedy preference order, the tuned result and the gain, with the tuning times. Figures go
to bench/results/tune.json with the commit.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from aot.compiler import resolve_backends
from aot.targets.board import resolve_board
from aot.tune.measure import format_cost
from aot.tune.report import as_json
from aot.tune.tuner import is_single, tune

from shared_models import DEFAULT_MODELS, MODELS, REPO, commit  # noqa: E402  (bench/ is the script folder)

RESULTS = REPO / "bench" / "results" / "tune.json"
INT8 = [(n, rel) for n, rel in MODELS if n.endswith("_int8")]
DEFAULT_CMSIS_NN = REPO.parent / "shared" / "third_party" / "CMSIS-NN"


def backends_for(board: str, cmsis_nn: Path | None) -> list[str]:
    """The board's backends, with cmsis-nn before ref on Arm boards when its sources are there."""
    b = resolve_board(board)
    names = resolve_backends(b)
    if cmsis_nn is not None and b.arch == "arm":
        names = [n for n in names if n != "ref"] + ["cmsis-nn", "ref"]
    return names


def row(name: str, result, cold: float, warm: float) -> list[str]:
    unit = result.unit
    singles: dict[str, float] = {}
    for config_name, r in result.configurations.items():
        if r.status == "ok" and is_single(r.configuration):
            backend = config_name.split("/")[0].split("+")[0]
            singles[backend] = min(singles.get(backend, r.cost), r.cost)
    greedy = result.configurations.get(result.greedy)
    best_backend = min(singles, key=singles.get)
    final = result.final_cost()
    cell = lambda v: format_cost(v, unit).removesuffix(" instructions")  # noqa: E731
    return [name, result.board, ", ".join(f"{b} {cell(v)}" for b, v in singles.items()),
            cell(greedy.cost) if greedy is not None and greedy.status == "ok" else "-", cell(final),
            f"{(singles[best_backend] - final) / singles[best_backend]:+.1%} vs {best_backend}",
            f"{(greedy.cost - final) / greedy.cost:+.1%}" if greedy is not None and greedy.status == "ok" else "-",
            "tuned cover" if result.chosen == "tuned" else result.chosen, f"{cold:.0f} s", f"{warm:.1f} s"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the shared models folder")
    p.add_argument("--boards", default="cortex-m4,cortex-m55,host-avx2", help="comma-separated boards")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this model (repeatable)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="configurations measured in parallel (default 2)")
    p.add_argument("--cmsis-nn", type=Path, default=Path(os.environ.get("CMSIS_NN_PATH", DEFAULT_CMSIS_NN)),
                   help="CMSIS-NN sources (default CMSIS_NN_PATH, else ../shared/third_party/CMSIS-NN)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = p.parse_args(argv)
    cmsis_nn = args.cmsis_nn if args.cmsis_nn.is_dir() else None
    options = {"cmsis-nn": {"path": str(cmsis_nn)}} if cmsis_nn else {}
    chosen = [(n, rel) for n, rel in INT8 if not args.only or n in args.only]
    boards = [b for b in args.boards.split(",") if b]
    rows, reports = [], []
    with tempfile.TemporaryDirectory(prefix="aot-tune-bench-") as tmp:
        for (name, rel), board in tqdm([(m, b) for m in chosen for b in boards], desc="tunes", unit="tune",
                                       file=sys.stderr):
            path = args.models / rel
            if not path.exists():
                tqdm.write(f"skipping {name}: {path} is absent", file=sys.stderr)
                continue
            db = Path(tmp) / f"{name}-{board}.sqlite"
            backends = backends_for(board, cmsis_nn)
            t0 = time.perf_counter()
            tune(path, board, backends, db, jobs=args.jobs, backend_options=options)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = tune(path, board, backends, db, jobs=args.jobs, backend_options=options)
            warm = time.perf_counter() - t0
            rows.append(row(name, result, cold, warm))
            reports.append(json.loads(as_json(result)) | {"cold_seconds": cold, "warm_seconds": warm})
    if not rows:
        print(f"no model of the benchmark was found under {args.models}", file=sys.stderr)
        return 1
    head = ["model", "board", "each backend alone (best layout)", "greedy order", "tuned", "gain vs best single",
            "gain vs greedy", "result", "tune cold", "tune warm"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    head_commit = commit()
    print(f"\nCommit {head_commit}. `aot tune -j {args.jobs}`: instructions under QEMU on the Arm boards (gcc -O2, "
          f"per-layer profile builds), median time per inference on host boards; each backend runs with ref behind "
          f"it; cold = empty database, warm = the same database again.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"commit": head_commit, "rows": rows, "reports": reports}, indent=2,
                                    default=str) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
