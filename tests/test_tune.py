"""aot tune (issue 12, first part): configurations measured on the board with the per-layer profile,
records in the SQLite database, the cover search, the end-to-end guard, `aot compile --tuning-db`,
a plug-in backend taking part, and measurement through a Dask LocalCluster giving the local pool's
result. The search's optimality is tests/test_tune_search.py."""
from __future__ import annotations

import json
import textwrap

import onnx
import pytest

from aot.cli import main as aot_main
from aot.compiler import CompileOptions, compile_model
from aot.tune.tuner import configurations, tune, tuned_options

from test_isa_backends import isa_model

BOARD = "cortex-m4"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "isa.onnx"
    onnx.save(isa_model().proto(), str(path))
    return path


@pytest.fixture(scope="module")
def tuned(model_path, tmp_path_factory):
    db = tmp_path_factory.mktemp("tunedb") / "tune.sqlite"
    return db, tune(model_path, BOARD, ["arm-dsp", "ref"], db, jobs=2)


def test_configurations_cover_each_backend_alone_and_the_greedy_order():
    configs, greedy = configurations(["arm-dsp", "ref"])
    assert [c.name for c in configs] == ["arm-dsp+ref/default", "arm-dsp+ref/channels-last",
                                         "arm-dsp+ref[arm-dsp.weights=int16]/default",
                                         "arm-dsp+ref[arm-dsp.weights=int16]/channels-last",
                                         "ref/default", "ref/channels-last"]
    assert greedy.name == "arm-dsp+ref/default"
    # an option the user fixed is not varied
    fixed, _ = configurations(["arm-dsp", "ref"], {"arm-dsp": {"weights": "int8"}})
    assert not any(c.options for c in fixed)


def test_tuned_result_is_never_worse_than_any_configuration(tuned):
    db, result = tuned
    measured = {n: r.cost for n, r in result.configurations.items() if r.status == "ok"}
    assert set(measured) == {"arm-dsp+ref/default", "arm-dsp+ref/channels-last", "ref/default", "ref/channels-last",
                             "arm-dsp+ref[arm-dsp.weights=int16]/default",
                             "arm-dsp+ref[arm-dsp.weights=int16]/channels-last"}
    assert result.final_cost() <= min(measured.values())
    # arm-dsp runs this model's convolutions in fewer instructions than ref, layer by layer
    assert measured["arm-dsp+ref/default"] < measured["ref/default"]
    assert any(c.backend == "arm-dsp" for c in result.choices)
    assert result.measured + result.cached == 6 and result.failed == 0


def test_second_tune_measures_nothing(tuned, model_path):
    db, first = tuned
    again = tune(model_path, BOARD, ["arm-dsp", "ref"], db, jobs=2)
    assert again.measured == 0 and again.cached == 6
    assert again.final_cost() == first.final_cost()
    assert [(c.layer, c.backend) for c in again.choices] == [(c.layer, c.backend) for c in first.choices]


def test_compile_with_the_database_applies_the_choices(tuned, model_path, tmp_path, capsys):
    db, result = tuned
    out = tmp_path / "lib"
    assert aot_main(["compile", str(model_path), "--board", BOARD, "--tuning-db", str(db), "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert "tuning database:" in said.err
    layers = json.loads((out / "metadata.json").read_text())["layers"]
    if result.chosen == "tuned":
        expected = result.layer_backend
    else:  # a measured configuration won: its layers' backends
        expected = {layer.name: layer.backend for layer in result.configurations[result.chosen].layers}
    assert {layer["name"]: layer["backend"] for layer in layers} == expected
    if result.chosen == "tuned":  # each layer runs the kernel variant measured for it
        assert {layer["name"]: layer["kernel"] for layer in layers} == {c.layer: c.kernel for c in result.choices}


def test_compile_without_records_keeps_the_preference_order(model_path, tmp_path, capsys):
    from aot.tune.db import TuningDB
    db = tmp_path / "empty.sqlite"
    TuningDB(db).close()
    assert aot_main(["compile", str(model_path), "--board", BOARD, "--tuning-db", str(db), "-o", str(tmp_path / "o")]) == 0
    assert "every layer keeps the preference order" in capsys.readouterr().err


def test_tuned_options_force_each_layer(tuned):
    _, result = tuned
    options = tuned_options(result, ["arm-dsp", "ref"], CompileOptions(board=BOARD))
    assert options.layer_backend == result.layer_backend and not options.layouts_from_backends
    assert options.layer_backend_options == {c.layer: {c.backend: c.options} for c in result.choices if c.options}


def test_kernel_variant_options_apply_per_layer(model_path):
    """arm-dsp.weights chosen per layer: the fully connected layer given int16 runs the int16 kernel and
    the others keep theirs; a Conv given int16 widens only its weights in flash."""
    from aot.errors import AotError

    def compiled(**layer_options) -> tuple[dict[str, str], int]:
        c = compile_model(model_path, CompileOptions(board=BOARD, layer_backend_options=layer_options))
        return {layer["name"]: layer["kernel"] for layer in c.metadata["layers"]}, c.metadata["memory"]["weights_bytes"]

    plain, plain_bytes = compiled()
    fc = next(name for name, kernel in plain.items() if kernel == "int8/fc_packed_int8_dsp")
    conv = next(name for name, kernel in plain.items() if kernel == "int8/conv_gemm_dsp")
    kernels, _ = compiled(**{fc: {"arm-dsp": {"weights": "int16"}}})
    assert kernels == {**plain, fc: "int8/fc_packed_int16_dsp"}
    kernels, wide_bytes = compiled(**{conv: {"arm-dsp": {"weights": "int16"}}})
    assert kernels == plain and wide_bytes > plain_bytes
    with pytest.raises(AotError, match="unknown layer 'nope'"):
        compiled(nope={"arm-dsp": {"weights": "int16"}})
    with pytest.raises(AotError, match="arm-dsp.weights=int4 .*one of int8, int16"):
        compiled(**{conv: {"arm-dsp": {"weights": "int4"}}})


PLUGIN = textwrap.dedent('''
    """A plug-in backend for the tuning test: ref's int8 kernels under another name."""
    import dataclasses
    from aot.backends import REGISTRY, TemplateBackend
    from aot.backends.ref import REF

    if "mirror" not in REGISTRY.backends:
        MIRROR = TemplateBackend("mirror")
        for kernel in REF.kernels:
            if "int8" in kernel.dtypes and kernel.op_types[0] in ("Conv", "Gemm"):
                MIRROR.add_kernel(dataclasses.replace(kernel, name="mirror/" + kernel.name))
        REGISTRY.register(MIRROR)
''')


def test_a_plugin_backend_takes_part(model_path, tmp_path):
    plugin = tmp_path / "mirror_backend.py"
    plugin.write_text(PLUGIN)
    result = tune(model_path, BOARD, ["mirror", "ref"], tmp_path / "t.sqlite", jobs=2, plugins=[str(plugin)])
    mirror, ref = result.configurations["mirror+ref/default"], result.configurations["ref/default"]
    assert mirror.status == "ok" and any(layer.backend == "mirror" for layer in mirror.layers)
    # the same C under another name: the same instructions, layer by layer (up to the counter's tick)
    assert abs(mirror.cost - ref.cost) <= 40 * len(ref.layers)


def test_dask_cluster_gives_the_local_pools_result(tuned, model_path, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, local = tuned
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = tune(model_path, BOARD, ["arm-dsp", "ref"], tmp_path / "dask.sqlite", executor=client.get_executor())
    assert remote.measured == 6
    assert {n: r.cost for n, r in remote.configurations.items()} == \
           {n: r.cost for n, r in local.configurations.items()}
    assert [(c.layer, c.backend) for c in remote.choices] == [(c.layer, c.backend) for c in local.choices]


def test_cli_tune_writes_the_report(model_path, tmp_path, capsys):
    db = tmp_path / "cli.sqlite"
    assert aot_main(["tune", str(model_path), "--board", BOARD, "--backends", "arm-dsp,ref", "--db", str(db),
                     "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert "| configuration | instructions |" in out and "6 configurations measured" in out
    report = json.loads((tmp_path / "isa-cortex-m4.tune.json").read_text())
    assert report["final_cost"] > 0 and report["choices"]
    assert (tmp_path / "isa-cortex-m4.tune.md").read_text().startswith("## ")


def test_host_board_is_tuned_by_time(tiny_cnn_path, tmp_path):
    result = tune(tiny_cnn_path, "host", ["ref"], tmp_path / "host.sqlite")
    assert result.unit == "seconds" and set(result.configurations) == {"ref/default", "ref/channels-last"}
    assert all(r.status == "ok" and r.cost > 0 for r in result.configurations.values())
    assert result.final_cost() <= min(r.cost for r in result.configurations.values())
    assert all(layer.cost >= 0 for r in result.configurations.values() for layer in r.layers)


def test_objectives_and_limits_choose_among_measured_builds(tuned, model_path):
    from aot.errors import AotError
    from aot.tune.objective import Objective
    db, first = tuned
    builds = {n: r for n, r in first.configurations.items() if r.status == "ok"}
    smallest = min(r.arena_bytes for r in builds.values())
    by_arena = tune(model_path, BOARD, ["arm-dsp", "ref"], db, objective=Objective("arena"))
    assert by_arena.measured == 0
    chosen = builds.get(by_arena.chosen) or by_arena.tuned
    assert chosen.arena_bytes == smallest and all(r.flash_bytes > 0 for r in builds.values())
    # a limit below every build's flash is refused with the figures
    with pytest.raises(AotError, match="keeps the limits.*--max-flash 1 B"):
        tune(model_path, BOARD, ["arm-dsp", "ref"], db, objective=Objective(max_flash=1))
    # the objective tuned with is what --tuning-db applies
    fastest = tune(model_path, BOARD, ["arm-dsp", "ref"], db)
    again = tune(model_path, BOARD, ["arm-dsp", "ref"], db, measure=False)
    assert again.chosen == fastest.chosen and again.objective == fastest.objective

