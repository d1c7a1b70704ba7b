"""The structure-aware fuzzer in the suite (issue 9, item 8): hypothesis draws ONNX models of the ops aot
supports, mostly valid and then mutated or corrupted (tests/fuzz_models.py), and every one must compile
with exit 0 into C that builds and runs clean under ASan+UBSan, or be refused with exit 2 and one
paragraph, never a traceback, a hang or leftovers (tests/fuzz_oracle.py).

The runs are derandomized so CI is reproducible; AOT_FUZZ_EXAMPLES=N runs N examples per test locally
(AOT_FUZZ_SEED=S for another sequence than CI's). Failures found are kept in tests/fuzz_corpus/.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from conftest import require_tool
from fuzz_models import FuzzCase, fuzz_cases
from fuzz_oracle import check_model_bytes

EXAMPLES = int(os.environ.get("AOT_FUZZ_EXAMPLES", "0"))
SEED = os.environ.get("AOT_FUZZ_SEED")


def fuzz_settings(ci_examples: int):
    return settings(max_examples=EXAMPLES or ci_examples, deadline=None, derandomize=SEED is None,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def maybe_seeded(test):
    return seed(int(SEED))(test) if SEED is not None else test


def check(case: FuzzCase) -> None:
    with tempfile.TemporaryDirectory(prefix="aot-fuzz-") as work:
        check_model_bytes(case.data, Path(work))


@maybe_seeded
@fuzz_settings(ci_examples=60)
@given(fuzz_cases(max_mutations=0, corrupt=False))
def test_valid_looking_models_compile_build_and_run_clean(case: FuzzCase) -> None:
    """Unmutated chains: most compile, so this is the sanitizer half of the fuzzer."""
    check(case)


@maybe_seeded
@fuzz_settings(ci_examples=150)
@given(fuzz_cases(max_mutations=3))
def test_mutated_models_are_compiled_or_refused_cleanly(case: FuzzCase) -> None:
    check(case)


def test_clang_is_installed() -> None:
    require_tool("clang")  # the fuzz tests above build with it: missing is a failure, not a skip
