"""The fuzzer's findings, replayed (tests/fuzz_corpus/make_cases.py says what each one exercises): each
must now compile into C that builds and runs clean under ASan+UBSan, or be refused with exit 2 and one
paragraph, with no traceback, hang or leftovers (tests/fuzz_oracle.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fuzz_oracle import check_model_bytes

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
sys.path.insert(0, str(CORPUS))
from make_cases import CASES  # noqa: E402

FILES = sorted(CORPUS.glob("*.onnx"))
# Cases found but not fixed yet, with why (strict xfail: the day one passes, it must leave this list).
PENDING: dict[str, str] = {}


def _marks(path: Path) -> list:
    reason = PENDING.get(path.stem)
    return [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=_marks(p)) for p in FILES])
def test_corpus_case(path: Path, tmp_path: Path) -> None:
    check_model_bytes(path.read_bytes(), tmp_path)


def test_corpus_files_are_the_cases_make_cases_writes() -> None:
    """Every case has its file and every file its case, so the corpus is regenerable and documented."""
    assert {p.stem for p in FILES} == set(CASES)
    for name, build in CASES.items():
        proto = build()
        data = proto if isinstance(proto, bytes) else proto.SerializeToString()
        assert (CORPUS / f"{name}.onnx").read_bytes() == data, f"{name}.onnx is stale: run make_cases.py"
