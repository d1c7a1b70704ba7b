"""Long local fuzzing runs that keep going past failures (the pytest tests stop at the first):

    PYTHONPATH=$PWD python tests/fuzz_long.py --examples 3000 --seed 1 --out /tmp/fuzz-findings

Every failing model is saved as <out>/<kind>/<n>.onnx with a .txt of the failure, and a summary of
examples tried, accepted, refused and failed by kind is printed at the end (and every 100 examples).
"""
from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from fuzz_models import FuzzCase, fuzz_cases  # noqa: E402
from fuzz_oracle import FuzzFailure, check_model_bytes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--valid-only", action="store_true", help="no mutations (the sanitizer half)")
    parser.add_argument("--no-build", action="store_true", help="compile only")
    args = parser.parse_args()
    counts: collections.Counter = collections.Counter()
    start = time.monotonic()

    def summary() -> str:
        return (f"{sum(counts.values())} examples in {time.monotonic() - start:.0f} s: "
                + ", ".join(f"{k} {v}" for k, v in counts.most_common()))

    strategy = fuzz_cases(max_mutations=0, corrupt=False) if args.valid_only else fuzz_cases()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: FuzzCase) -> None:
        with tempfile.TemporaryDirectory(prefix="aot-fuzz-") as work:
            try:
                counts[check_model_bytes(case.data, Path(work), build=not args.no_build)] += 1
            except FuzzFailure as exc:
                counts[f"FAIL {exc.kind}"] += 1
                folder = args.out / re.sub(r"[^\w.-]+", "_", exc.kind)[:80]
                folder.mkdir(parents=True, exist_ok=True)
                n = len(list(folder.glob("*.onnx")))
                (folder / f"{n}.onnx").write_bytes(case.data)
                (folder / f"{n}.txt").write_text(f"{case!r}\n\n{exc}\n")
        if sum(counts.values()) % 100 == 0:
            print(summary(), flush=True)

    run()
    print("final:", summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
