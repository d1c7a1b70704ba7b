"""``aot tune``: measure the configurations, search the cheapest cover, verify it end to end, report.

1. Configurations: each backend alone (ref runs what it cannot), in the default layouts and channels-
   last, and today's greedy preference order. Each is compiled (cheap) to learn its layers and their
   database keys; a configuration whose layers are all in the database is not run again.
2. The others are measured (aot/tune/measure.py) through a ``concurrent.futures`` executor: a local
   process pool (``jobs``), or a Dask cluster's executor. Results go to the database.
3. Configurations that run the same layers (a fused layer counting as its members: the same graph
   after layout conversion) form a layout group; in each, every layer of every configuration is a
   candidate, and aot/tune/search.py finds the cheapest cover. The cheapest group wins.
4. The cover is compiled (per-layer backends, the group's layouts) and measured end to end; the
   result is the best measured build by the objective (aot/tune/objective.py), the cover or a
   configuration (the search adds per-layer costs; measuring guards against what adding misses).
"""
from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import AotError
from ..passes.layout_convert import CHANNELS_LAST
from .db import MeasureKey, Measurement, TuningDB
from .measure import (LAYOUTS, ConfigResult, Configuration, LayerCost, Task, aot_version, attach_layers, code_hash,
                      compile_options, compiled_layers, format_cost, measure_configuration, model_digest,
                      toolchain_version)
from .conversions import Crossing, crossing, transition_costs, write_benchmark
from .objective import Objective
from .search import INPUT, Candidate, Problem, best_cover


class NoRecords(AotError):
    """The database has nothing for this model on this board (``measure=False``)."""


@dataclass
class Choice:
    layer: str
    backend: str
    kernel: str
    cost: float
    configuration: str
    options: dict[str, str] = field(default_factory=dict)  # the backend's kernel-variant options for the layer
    layout: str = "-"  # the layout the layer runs in (its input's)

    @property
    def variant(self) -> str:
        """The kernel and the option values that select it, e.g. int8/conv_gemm_dsp [weights=int16]."""
        return self.kernel + (f" [{', '.join(f'{k}={v}' for k, v in self.options.items())}]" if self.options else "")


@dataclass
class TuneResult:
    model: str
    board: str
    configurations: dict[str, ConfigResult]  # by configuration name, measured or from the database
    greedy: str  # the configuration name of today's preference order
    layouts: str  # the winning layout group's layouts, or "per-layer" for a cover mixing them
    choices: list[Choice]
    predicted: float  # the search's sum
    layer_layouts: dict[str, list[str]] = field(default_factory=dict)  # the channels-last layers that build it
    tuned: ConfigResult | None = None  # the cover measured end to end
    chosen: str = "tuned"  # "tuned", or the measured configuration the objective prefers
    objective: str = "measured cost"
    measured: int = 0
    cached: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def layer_backend(self) -> dict[str, str]:
        return {c.layer: c.backend for c in self.choices}

    @property
    def layer_backend_options(self) -> dict[str, dict[str, dict[str, str]]]:
        return {c.layer: {c.backend: dict(c.options)} for c in self.choices if c.options}

    def best_single(self) -> tuple[str, float] | None:
        """The cheapest measured configuration of one backend (with ref behind it)."""
        singles = [(n, r.cost) for n, r in self.configurations.items()
                   if r.status == "ok" and is_single(r.configuration)]
        return min(singles, key=lambda kv: kv[1]) if singles else None

    @property
    def unit(self) -> str:
        return next((r.unit for r in self.configurations.values() if r.status == "ok"), "instructions")

    def final_cost(self) -> float:
        if self.chosen == "tuned" and self.tuned is not None:
            return self.tuned.cost
        return self.configurations[self.chosen].cost


def is_single(config: Configuration) -> bool:
    """One backend, with ref behind it for what it cannot run (or ref itself)."""
    return config.backends == ("ref",) or (len(config.backends) == 2 and config.backends[1] == "ref")


def variant_options(backend: str, given: dict[str, dict[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """(backend, key, value) of every kernel-variant value of ``backend``'s options (BackendOption.choices)
    other than its default, for the options the user has not fixed (``given``)."""
    from ..backends.registry import REGISTRY
    fixed = (given or {}).get(backend, {})
    return [(backend, o.name, value) for o in getattr(REGISTRY.get(backend), "options", ())
            if o.name not in fixed for value in o.choices if value != o.default]


def configurations(backends: Sequence[str], given: dict[str, dict[str, str]] | None = None
                   ) -> tuple[list[Configuration], Configuration]:
    """Every backend alone (with ref behind it) in each layout, once more per kernel-variant option
    value (variant_options), and the greedy preference order."""
    order = list(dict.fromkeys([*backends, "ref"]))
    singles = [(b, "ref") if b != "ref" else ("ref",) for b in order]
    configs = [Configuration(s, layouts, options) for s in singles
               for options in [(), *(((v,)) for v in variant_options(s[0], given))] for layouts in LAYOUTS]
    greedy = Configuration(tuple(order), "default")
    if greedy not in configs:
        configs.append(greedy)
    return configs, greedy


def _options_tuple(options: dict[str, dict[str, str]]) -> tuple:
    return tuple((b, tuple(sorted(kv.items()))) for b, kv in sorted(options.items()))


@dataclass
class Planned:
    """A configuration compiled: its layers and their database keys."""
    task: Task
    rows: list[tuple]
    keys: list[MeasureKey]
    total_key: MeasureKey
    arena_bytes: int
    weights_bytes: int
    code_digest: str  # of the generated files: configurations that generate the same C are measured once
    crossings: dict[str, Crossing | None]  # each layer's output (and INPUT: the graph's input) as a Crossing
    op_types: dict[str, str]  # of every layer and fused member, by name


def plan(task: Task, toolchain: str) -> Planned:
    from ..compiler import compile_model
    compiled = compile_model(task.model, compile_options(task))
    rows = compiled_layers(compiled, task.rounding)
    config = task.configuration
    options = config.backend_options({b: dict(kv) for b, kv in task.backend_options})
    keys = [MeasureKey(backend, _variant_key(kernel, options.get(backend)), code_hash(backend), layout, signature,
                       task.board, toolchain, task.opt, aot_version())
            for _, _, backend, kernel, layout, _, signature in rows]
    total_key = MeasureKey("<model>", config.name, "".join(code_hash(b) for b in config.backends), config.layouts,
                           json.dumps({"model": model_digest(task.model), "rounding": task.rounding,
                                       "backend_options": task.backend_options}), task.board,
                           toolchain, task.opt, aot_version())
    memory = compiled.metadata["memory"]
    digest = hashlib.sha256()
    for name in sorted(compiled.files):
        if name != "metadata.json":  # it names the options, which differ even where the C does not
            data = compiled.files[name]
            digest.update(name.encode() + b"\0" + (data if isinstance(data, bytes) else data.encode()) + b"\0")
    crossings: dict[str, Crossing | None] = {}
    op_types: dict[str, str] = {}
    graph = compiled.graph
    for call in compiled.calls:
        body = call.node.meta.get("body")
        for node in (body.nodes if body is not None else [call.node]):
            op_types[node.name] = node.op_type
            t = (getattr(body, "tensors", None) or graph.tensors).get(node.outputs[0]) if node.outputs else None
            crossings[node.name] = crossing(t.shape, t.dtype, t.layout) if t is not None else None
    if graph.inputs:
        x = graph.tensors[graph.inputs[0]]
        crossings[INPUT] = crossing(x.shape, x.dtype, x.layout)
    return Planned(task, rows, keys, total_key, memory["arena_bytes"], memory["weights_bytes"], digest.hexdigest(),
                   crossings, op_types)


def _variant_key(kernel: str, options: dict[str, str] | None) -> str:
    """A layer's kernel and its backend's option values: the same kernel with other options (e.g.
    arm-dsp.weights) is another variant with its own record."""
    return kernel + (json.dumps(options, sort_keys=True) if options else "")


def _from_db(planned: Planned, db: TuningDB) -> ConfigResult | None:
    total = db.get(planned.total_key)
    if total is None:
        return None
    config = planned.task.configuration
    if not total.ok:
        return ConfigResult(config, "failed", total.note)
    extra = json.loads(total.extra)
    layers = []
    for row, key in zip(planned.rows, planned.keys):
        found = db.get(key)
        if found is None or not found.ok:
            return None
        layers.append(LayerCost(*row, cost=found.cost))
    return ConfigResult(config, "ok", "", total.cost, layers, extra.get("arena_bytes", planned.arena_bytes),
                        planned.weights_bytes, total.unit, extra.get("flash_bytes", 0))


def _to_db(planned: Planned, result: ConfigResult, db: TuningDB) -> None:
    if result.status != "ok":
        db.put(planned.total_key, Measurement(None, result.unit, "failed", result.note))
        return
    for key, layer in zip(planned.keys, result.layers):
        db.put(key, Measurement(float(layer.cost), result.unit))
    db.put(planned.total_key, Measurement(float(result.cost), result.unit, extra=_extra(result)))


def _extra(result: ConfigResult) -> str:
    return json.dumps({"arena_bytes": result.arena_bytes, "flash_bytes": result.flash_bytes}, sort_keys=True)


def layout_groups(results: dict[str, ConfigResult]) -> dict[tuple[str, ...], list[ConfigResult]]:
    """Measured configurations by the layers they run (a fused layer counts as its members): the same
    graph after layout conversion."""
    groups: dict[tuple[str, ...], list[ConfigResult]] = {}
    for result in results.values():
        if result.status == "ok":
            members = tuple(sorted(m for layer in result.layers for m in layer.members))
            groups.setdefault(members, []).append(result)
    return groups


def _chain(unfused: ConfigResult, with_layouts: bool) -> Problem:
    """The members of ``unfused``'s layers in its execution order, as a chain: aot runs the layers in
    this order, each after its producers; a chain keeps every cover valid and lets a fused layer
    cover only members that run back to back. (Layout crossings are charged on the chain's edges: on
    a graph with branches, to the previous layer's output rather than to each real edge.)"""
    order = [m for layer in unfused.layers for m in layer.members]
    producers = {name: ((order[i - 1],) if i else (INPUT,)) for i, name in enumerate(order)}
    io_layout = unfused.layers[0].layout if with_layouts and unfused.layers else "-"
    return Problem(tuple(order), producers, frozenset(order[-1:]), io_layout)


def _cover(problem: Problem, results: Sequence[ConfigResult], transition, with_layouts: bool
           ) -> tuple[float, list[Choice], list[Candidate]]:
    """The cheapest cover of ``problem`` by the layers of ``results`` whose members it has (a fused
    layer covers its members; a layer only some configurations run, e.g. an inserted Transpose, is
    not a candidate: with layouts it is a crossing's cost)."""
    nodes = set(problem.order)
    candidates, layers, options = [], {}, {}
    for result in results:
        for layer in result.layers:
            if not set(layer.members) <= nodes:
                continue
            chosen = {k: v for b, k, v in result.configuration.options if b == layer.backend}
            cand = Candidate(frozenset(layer.members), layer.backend, _variant_key(layer.kernel, chosen),
                             layer.layout if with_layouts else "-", float(layer.cost), result.configuration.name)
            candidates.append(cand)
            layers[cand], options[cand] = layer, chosen
    cover = best_cover(problem, candidates, transition)
    choices = [Choice(layers[c].name, c.backend, layers[c].kernel, c.cost, c.note, options[c], layers[c].layout)
               for c in cover.candidates]
    return cover.cost, choices, cover.candidates


def channels_last_layers(chosen: Sequence[Candidate], layouts: Sequence[str], op_types: dict[str, str]
                         ) -> dict[str, list[str]]:
    """Per-layer layouts building a cover: the members aot converts of each candidate measured in
    channels-last (``layouts[i]``: the layout candidate i was measured in)."""
    return {m: list(CHANNELS_LAST[op_types[m]]) for cand, layout in zip(chosen, layouts) if layout == "NHWC"
            for m in sorted(cand.nodes) if op_types.get(m) in CHANNELS_LAST}


def search_group(group: list[ConfigResult], op_types: dict[str, str]
                 ) -> tuple[float, list[Choice], dict[str, list[str]]]:
    """The cheapest per-layer cover of one layout group (configurations running the same layers):
    every layer of every configuration is a candidate; a fused layer covers its members. Returns the
    cost, the choices and the per-layer layouts that build the cover as its layers were measured
    (a group's configurations may differ in layouts, e.g. x86-avx2's channels-last float Convs)."""
    unfused = max(group, key=lambda r: len(r.layers))  # execution order of the members
    cost, choices, chosen = _cover(_chain(unfused, False), group, lambda *a: 0.0, False)
    return cost, choices, channels_last_layers(chosen, [c.layout for c in choices], op_types)


def search_mixed(base: ConfigResult, results: Sequence[ConfigResult], transition, op_types: dict[str, str]
                 ) -> tuple[float, list[Choice], dict[str, list[str]]]:
    """The cheapest cover over every configuration's layers, each in the layout it was measured in,
    paying ``transition`` (aot/tune/conversions.py) where the layout changes between layers; ``base``
    (ref in the imported layouts) gives the layers. Returns the cost, the choices and the per-layer
    layouts that build it (the channels-last layers' members that aot converts)."""
    cost, choices, chosen = _cover(_chain(base, True), results, transition, True)
    return cost, choices, channels_last_layers(chosen, [c.layout for c in choices], op_types)


def tune(model: str | Path, board: str, backends: Sequence[str], db_path: str | Path, *, jobs: int = 1,
         executor: futures.Executor | None = None, cc: str = "gcc", opt: str = "-O2", rounding: str = "single",
         board_dirs: Sequence[str] = (), backend_options: dict[str, dict[str, str]] | None = None,
         plugins: Sequence[str] = (), progress: Callable[[str, int], None] | None = None, verify: bool = True,
         measure: bool = True, objective: Objective = Objective()) -> TuneResult:
    """Tune ``model`` for ``board`` over ``backends`` (see the module docstring). ``progress(kind, n)``
    hears of each configuration: kind is "measured", "cached" or "failed". ``measure=False`` uses only
    the database's records (``aot compile --tuning-db``): configurations without one are left out."""
    model = str(model)
    options = _options_tuple(backend_options or {})
    from ..plugins import load_plugins
    load_plugins(list(plugins))  # before the backends they register are looked up
    configs, greedy = configurations(backends, backend_options)
    toolchain = toolchain_version(board, cc, tuple(board_dirs))
    tasks = [Task(model, board, c, cc, opt, rounding, tuple(board_dirs), options, tuple(plugins)) for c in configs]
    planned = [plan(t, toolchain) for t in tasks]
    results: dict[str, ConfigResult] = {}
    counts = {"measured": 0, "cached": 0, "failed": 0}

    def record(kind: str, name: str, result: ConfigResult) -> None:
        results[name] = result
        counts[kind] += 1
        if progress:
            progress(kind, 1)

    with TuningDB(db_path) as db:
        pending = []
        for p in planned:
            cached = _from_db(p, db)
            if cached is not None:
                record("cached" if cached.status == "ok" else "failed", p.task.configuration.name, cached)
            else:
                pending.append(p)
        if pending and not measure:
            missing = [p.task.configuration.name for p in pending]
            planned = [p for p in planned if p not in pending]
            configs = [c for c in configs if c.name not in missing]
            pending = []
            unmeasured = missing
        else:
            unmeasured = []
        if pending:
            same: dict[str, list[Planned]] = {}  # generated code -> configurations making it
            for p in pending:
                same.setdefault(p.code_digest, []).append(p)
            own = executor is None
            pool = executor or futures.ProcessPoolExecutor(max_workers=max(1, jobs))
            try:
                running = {pool.submit(measure_configuration, ps[0].task): ps for ps in same.values()}
                for done in futures.as_completed(running):
                    try:
                        measured = done.result()
                    except Exception as exc:  # a worker that died: the configuration failed, the tune goes on
                        measured = ConfigResult(running[done][0].task.configuration, "failed",
                                                f"{type(exc).__name__}: {exc}")
                    for p in running[done]:
                        result = attach_layers(dataclasses.replace(measured, configuration=p.task.configuration),
                                               p.rows)
                        _to_db(p, result, db)
                        record("measured" if result.status == "ok" else "failed", p.task.configuration.name, result)
            finally:
                if own:
                    pool.shutdown()
    results = {c.name: results[c.name] for c in configs}  # in the configurations' order
    notes = [f"{name}: {r.note}" for name, r in results.items() if r.status != "ok"]
    notes += [f"{name}: no record in the database (not measured)" for name in unmeasured]
    groups = layout_groups({n: r for n, r in results.items()
                            if r.status == "ok" and objective.refusal(r.arena_bytes, r.flash_bytes) is None})
    if not groups and any(r.status == "ok" for r in results.values()):
        raise AotError(f"no measured configuration of model '{model}' on board '{board}' keeps the limits ("
                       f"{objective.describe()}): " + "; ".join(
                           f"{n}: {objective.refusal(r.arena_bytes, r.flash_bytes)}" for n, r in results.items()
                           if r.status == "ok"))
    if not groups:
        raise NoRecords(f"no configuration of model '{model}' has a measurement for board '{board}'"
                        + (": " + "; ".join(notes) if notes else ""))
    op_types = {name: op for p in planned for name, op in p.op_types.items()}
    best = None
    for group in groups.values():
        cost, choices, layer_layouts = search_group(group, op_types)
        if best is None or cost < best[0]:
            best = (cost, choices, layer_layouts, group)
    cost, choices, layer_layouts, group = best
    # The cover is built with exactly the layers' measured layouts (layer_layouts), not the group's
    # policy: a policy such as a backend's channels-last float Convs would also convert its int8 ones.
    result = TuneResult(model, board, results, greedy.name, group[0].configuration.layouts, choices, cost,
                        layer_layouts=layer_layouts, measured=counts["measured"], cached=counts["cached"],
                        failed=counts["failed"], notes=notes)
    admissible = [r for group in groups.values() for r in group]
    mixed = _mix_layouts(planned, admissible, toolchain, db_path, measure, result.notes)
    if mixed is not None and mixed[0] < cost:
        result.predicted, result.choices, result.layer_layouts = mixed
        result.layouts = "per-layer"
    sources = {c.configuration for c in result.choices}
    single = len(sources) == 1 and len(result.choices) == len(results[next(iter(sources))].layers)
    if verify and not single:  # else every layer as one configuration runs it: that build, measured
        _verify_cover(result, tasks[0], backends, db_path, toolchain, measure)
    decision = MeasureKey("<decision>", ",".join(backends), "", "", json.dumps(
        {"model": model_digest(model), "rounding": rounding}), board, toolchain, opt, aot_version())
    with TuningDB(db_path) as db:
        if measure:  # the objective tuned with is the one `aot compile --tuning-db` applies
            db.put(decision, Measurement(None, result.unit, "ok", "objective",
                                         extra=json.dumps(dataclasses.asdict(objective))))
        else:
            found = db.get(decision)
            if found is not None:
                objective = Objective(**json.loads(found.extra))
    choose(result, objective)
    return result


def _mix_layouts(planned: list[Planned], results: list[ConfigResult], toolchain: str, db_path, measure: bool,
                 notes: list[str]) -> tuple[float, list[Choice], dict[str, list[str]]] | None:
    """The cheapest cover mixing layouts layer by layer (search_mixed), when the measured layers come
    in both channels-first and channels-last; the crossings' costs measured first (conversions.py)."""
    measured_in = {layer.layout for r in results for layer in r.layers}
    base = next((p for p in planned if p.task.configuration == Configuration(("ref",), "default")), None)
    found = [r for r in results if base is not None and r.configuration == base.task.configuration]
    if not {"NCHW", "NHWC"} <= measured_in or not found:
        return None
    costs = _conversion_costs(base, toolchain, db_path, measure, notes)
    if costs is None:
        return None
    return search_mixed(found[0], results, transition_costs(costs, base.crossings), base.op_types)


def _conversion_costs(base: Planned, toolchain: str, db_path, measure: bool,
                      notes: list[str]) -> dict[str, float] | None:
    """Each crossing's Transpose both ways, measured in one benchmark model (or from the database)."""
    import tempfile
    crossings = sorted({c for c in base.crossings.values() if c is not None}, key=lambda c: (c.dtype, c.shape))
    if not crossings:
        return None
    with tempfile.TemporaryDirectory(prefix="aot-tune-") as folder:
        task = dataclasses.replace(base.task, model=str(write_benchmark(crossings, Path(folder))), backend_options=())
        bench = plan(task, toolchain)
        with TuningDB(db_path) as db:
            result = _from_db(bench, db)
            if result is None:
                if not measure:
                    notes.append("layout conversions have no record in the database: layouts are not mixed")
                    return None
                result = attach_layers(measure_configuration(task), bench.rows)
                _to_db(bench, result, db)
    if result.status != "ok":
        notes.append(f"layout conversions could not be measured ({result.note}): layouts are not mixed")
        return None
    return {layer.name: layer.cost for layer in result.layers}


def tuned_options(result: TuneResult, backends: Sequence[str], base=None):
    """CompileOptions applying the cover: the group's layouts and each layer's backend."""
    from ..compiler import CompileOptions
    base = base or CompileOptions(board=result.board)
    used = list(dict.fromkeys([*(c.backend for c in result.choices), *backends, "ref"]))
    return dataclasses.replace(base, backends=used, desired_layouts={},
                               layer_layouts={k: list(v) for k, v in result.layer_layouts.items()},
                               layouts_from_backends=False, layer_backend=dict(result.layer_backend),
                               layer_backend_options=result.layer_backend_options)


def configuration_options(config: Configuration, base):
    """CompileOptions ``base`` building one measured configuration: its backends, layouts and options."""
    return dataclasses.replace(base, backends=list(config.backends),
                               desired_layouts=dict(LAYOUTS[config.layouts] or {}),
                               backend_options=config.backend_options(base.backend_options))


def _verify_cover(result: TuneResult, template: Task, backends: Sequence[str], db_path, toolchain: str,
                  measure: bool = True) -> None:
    """Measure the tuned cover end to end (cached like the configurations) and keep the best measured."""
    config = Configuration(("tuned", *sorted(set(c.backend for c in result.choices))), result.layouts)
    task = dataclasses.replace(template, configuration=config)
    options = tuned_options(result, backends, compile_options(template))
    with TuningDB(db_path) as db:
        chosen = {c.layer: [c.backend, c.options] if c.options else c.backend for c in result.choices}
        key = MeasureKey("<tuned>", json.dumps(chosen, sort_keys=True), "".join(
            code_hash(b) for b in sorted(set(result.layer_backend.values()))), result.layouts,
            json.dumps({"model": model_digest(task.model), "rounding": task.rounding,
                        "layer_layouts": result.layer_layouts}, sort_keys=True),
            task.board, toolchain, task.opt, aot_version())
        found = db.get(key)
        if found is not None:
            extra = json.loads(found.extra)
            measured = ConfigResult(config, found.status, found.note, found.cost or 0, unit=found.unit,
                                    arena_bytes=extra.get("arena_bytes", 0), flash_bytes=extra.get("flash_bytes", 0))
        elif not measure:
            result.notes.append("the tuned cover has no end-to-end record; applied as the search predicts")
            return
        else:
            measured = measure_configuration(task, options)
            db.put(key, Measurement(float(measured.cost) if measured.status == "ok" else None, measured.unit,
                                    measured.status, measured.note, extra=_extra(measured)))
    result.tuned = measured
    if measured.status != "ok":
        result.notes.append(f"the tuned cover failed ({measured.note})")


def choose(result: TuneResult, objective: Objective) -> None:
    """The result among the measured builds (configurations, and the tuned cover), by ``objective``."""
    builds = {n: r for n, r in result.configurations.items() if r.status == "ok"}
    if result.tuned is not None and result.tuned.status == "ok":
        builds["tuned"] = result.tuned
    refused = {n: objective.refusal(r.arena_bytes, r.flash_bytes) for n, r in builds.items()}
    admissible = [n for n in builds if refused[n] is None]
    if not admissible:
        raise AotError(f"no measured build of model '{result.model}' on board '{result.board}' keeps the limits: "
                       + "; ".join(f"{n}: {why}" for n, why in refused.items()))
    order = list(builds)
    best = min(admissible, key=lambda n: (*objective.score(builds[n].cost, builds[n].arena_bytes,
                                                           builds[n].flash_bytes), order.index(n)))
    if result.tuned is not None and "tuned" in builds and best != "tuned":
        why = refused["tuned"] or f"{best} scores better on {objective.describe()}"
        result.notes.append(f"the tuned cover measured {format_cost(builds['tuned'].cost, builds['tuned'].unit)}; "
                            f"kept {best} ({why})")
    result.chosen = best
    result.objective = objective.describe()
