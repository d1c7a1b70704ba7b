"""The cover search (aot/tune/search.py) is optimal: on small random graphs with synthetic costs it
finds the cost of the best cover found by brute force over every exact cover (hypothesis)."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings, strategies as st

from aot.errors import AotError
from aot.tune.search import INPUT, Candidate, Problem, best_cover, cover_cost

LAYOUTS = ("NCHW", "NHWC")


@st.composite
def problems(draw):
    """A DAG of 2-7 nodes (each reads 1-2 earlier nodes or the input) and candidates: every node alone
    in each layout, plus random connected pairs and triples."""
    n = draw(st.integers(2, 7))
    order = tuple(f"n{i}" for i in range(n))
    producers = {}
    for i, node in enumerate(order):
        earlier = [INPUT] + list(order[:i])
        k = draw(st.integers(1, min(2, len(earlier))))
        producers[node] = tuple(sorted(set(draw(st.lists(st.sampled_from(earlier), min_size=k, max_size=k)))))
    consumed = {p for ps in producers.values() for p in ps}
    outputs = frozenset(nd for nd in order if nd not in consumed) | {order[-1]}
    cost = st.integers(1, 20)
    candidates = [Candidate(frozenset([nd]), b, "v", layout, draw(cost))
                  for nd in order for b in ("a", "b") for layout in LAYOUTS if draw(st.booleans()) or b == "a"]
    for size in (2, 3):
        for group in itertools.combinations(order, size):
            if draw(st.integers(0, 3)) == 0:
                candidates.append(Candidate(frozenset(group), "fused", "v", draw(st.sampled_from(LAYOUTS)), draw(cost)))
    weights = {nd: draw(st.integers(0, 9)) for nd in (INPUT, *order)}
    return Problem(order, producers, outputs, "NCHW"), candidates, weights


def transition_of(weights):
    return lambda node, src, dst: float(weights[node] + 1)


def valid_order(problem: Problem, chosen) -> bool:
    """Some order of the chosen candidates runs each after the producers of its nodes."""
    owner = {n: i for i, c in enumerate(chosen) for n in c.nodes}
    deps = {i: {owner[p] for n in c.nodes for p in problem.producers[n] if p != INPUT and owner[p] != i}
            for i, c in enumerate(chosen)}
    done: set[int] = set()
    while len(done) < len(chosen):
        ready = [i for i in deps if i not in done and deps[i] <= done]
        if not ready:
            return False
        done.update(ready)
    return True


def brute_force(problem: Problem, candidates, transition) -> float:
    best = math.inf
    nodes = set(problem.order)

    def extend(chosen, covered):
        nonlocal best
        if covered == nodes:
            if valid_order(problem, chosen):
                best = min(best, cover_cost(problem, chosen, transition)[0])
            return
        first = next(n for n in problem.order if n not in covered)
        for c in candidates:
            if first in c.nodes and not c.nodes & covered:
                extend(chosen + [c], covered | c.nodes)

    extend([], set())
    return best


@settings(max_examples=200, deadline=None)
@given(problems())
def test_search_finds_the_brute_force_optimum(case):
    problem, candidates, weights = case
    transition = transition_of(weights)
    expected = brute_force(problem, candidates, transition)
    found = best_cover(problem, candidates, transition)
    assert found.cost == pytest.approx(expected)
    assert sorted(n for c in found.candidates for n in c.nodes) == sorted(problem.order)
    assert valid_order(problem, found.candidates)
    assert found.cost == pytest.approx(cover_cost(problem, found.candidates, transition)[0])


def test_a_layout_change_is_worth_it_only_when_the_kernels_save_more_than_the_conversions():
    chain = Problem(("a", "b", "c"), {"a": (INPUT,), "b": ("a",), "c": ("b",)}, frozenset({"c"}), "NCHW")
    def cands(nhwc_cost):
        return [Candidate(frozenset([n]), "ref", "v", "NCHW", 10) for n in chain.order] + \
               [Candidate(frozenset([n]), "fast", "v", "NHWC", nhwc_cost) for n in chain.order]
    convert = lambda node, src, dst: 4.0  # noqa: E731
    # NHWC saves 3 per layer, 9 in all, but costs two conversions (in and out): 8 < 9, so convert
    cover = best_cover(chain, cands(7), convert)
    assert [c.layout for c in cover.candidates] == ["NHWC"] * 3 and cover.cost == 21 + 8 and cover.transitions == 8
    # NHWC saves 2 per layer, 6 in all: not worth two conversions
    cover = best_cover(chain, cands(8), convert)
    assert [c.layout for c in cover.candidates] == ["NCHW"] * 3 and cover.cost == 30


def test_a_node_without_candidates_is_named():
    chain = Problem(("a", "b"), {"a": (INPUT,), "b": ("a",)}, frozenset({"b"}), "NCHW")
    with pytest.raises(AotError, match="no candidate runs node.*b"):
        best_cover(chain, [Candidate(frozenset(["a"]), "ref", "v", "NCHW", 1)], lambda *a: 0.0)


# -- the tuning database ------------------------------------------------------------------------------
from aot.tune.db import MeasureKey, Measurement, TuningDB  # noqa: E402


def key(**changes) -> MeasureKey:
    base = dict(backend="arm-dsp", variant="int8/conv_gemm_dsp", template_hash="abc", layout="NCHW",
                signature='{"op":"Conv","shape":[1,64,25,5]}', board="cortex-m4", toolchain="arm-none-eabi-gcc 12.2",
                flags="-O2", aot_version="0.1.0")
    return MeasureKey(**{**base, **changes})


def test_database_round_trip_and_cache_hits(tmp_path):
    path = tmp_path / "tune.sqlite"
    with TuningDB(path) as db:
        assert db.get(key()) is None and db.misses == 1
        db.put(key(), Measurement(40_960.0, "instructions"))
        db.put(key(backend="cmsis-nn"), Measurement(None, "instructions", "failed", "does not build"))
    with TuningDB(path) as db:  # another process, another machine: the same records
        assert db.get(key()) == Measurement(40_960.0, "instructions") and db.hits == 1
        failed = db.get(key(backend="cmsis-nn"))
        assert not failed.ok and failed.note == "does not build"
        # anything the measurement depends on changes the key
        for change in ({"template_hash": "abd"}, {"toolchain": "clang 14"}, {"flags": "-Os"}, {"layout": "NHWC"},
                       {"signature": '{"op":"Conv","shape":[1,64,25,6]}'}):
            assert db.get(key(**change)) is None
        assert len(db) == 2 and sorted(f["backend"] for f, _ in db.records()) == ["arm-dsp", "cmsis-nn"]


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "tune.sqlite"
    path.write_text("not sqlite")
    with pytest.raises(AotError, match="tuning database"):
        TuningDB(path)
