"""The structure-aware fuzzer in the suite (issue 9, item 8): hypothesis draws ONNX models of the ops aot
supports, mostly valid and then mutated or corrupted (tests/fuzz_models.py), and every one must compile
with exit 0 into C that builds and runs clean under ASan+UBSan, or be refused with exit 2 and one
paragraph, never a traceback, a crash, a hang or leftovers (tests/fuzz_oracle.py).

Each test is split into shards with fixed seeds, so CI is reproducible and pytest-xdist spreads them
over the workers (about a minute with -n 2). Locally, AOT_FUZZ_EXAMPLES=N runs N examples per shard
and AOT_FUZZ_SEED=S starts the shards' seeds at S for other sequences than CI's; tests/fuzz_long.py
keeps going past failures. Failures found are kept in tests/fuzz_corpus/.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings

from conftest import require_tool
from fuzz_models import FuzzCase, fuzz_cases
from fuzz_oracle import check_model_bytes

EXAMPLES = int(os.environ.get("AOT_FUZZ_EXAMPLES", "0"))
FIRST_SEED = int(os.environ.get("AOT_FUZZ_SEED", "0"))
SHARDS = 4
VALID_EXAMPLES, MUTATED_EXAMPLES = 20, 60  # per shard, in CI


def check(case: FuzzCase) -> None:
    with tempfile.TemporaryDirectory(prefix="aot-fuzz-") as work:
        check_model_bytes(case.data, Path(work))


def run_shard(strategy, shard: int, examples: int) -> None:
    """``examples`` cases of ``strategy`` from the shard's own fixed seed, each checked."""
    @seed(FIRST_SEED + shard)
    @settings(max_examples=EXAMPLES or examples, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(strategy)
    def shard_test(case: FuzzCase) -> None:
        check(case)
    shard_test()


@pytest.mark.parametrize("shard", range(SHARDS))
def test_valid_looking_models_compile_build_and_run_clean(shard: int) -> None:
    """Unmutated chains: most compile, so this is the sanitizer half of the fuzzer."""
    run_shard(fuzz_cases(max_mutations=0, corrupt=False), 100 + shard, VALID_EXAMPLES)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_mutated_models_are_compiled_or_refused_cleanly(shard: int) -> None:
    run_shard(fuzz_cases(max_mutations=3), 200 + shard, MUTATED_EXAMPLES)


def test_clang_is_installed() -> None:
    require_tool("clang")  # the fuzz tests above build with it: missing is a failure, not a skip
