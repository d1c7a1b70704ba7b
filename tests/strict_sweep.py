"""Hand-run sweep (not collected by pytest): strict-warning counts of many generated libraries.

    PYTHONPATH=$PWD python tests/strict_sweep.py [--conformance] [--only SUBSTR] [--show N]

Builds the op models of the tests (tests/test_*.py builders), the shared real models and, with
--conformance, every ONNX node test the ref backend compiles; compiles each library with
tests/strict_build.py on the host (gcc, clang, the x86 boards) and for cortex-m4/cortex-m55, and prints
the warnings per flag (distinct file:line:flag diagnostics), summed and per configuration.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aot.compiler import CompileOptions, compile_model, write_library  # noqa: E402
from strict_build import compile_strict, warnings_by_flag  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
NHWC = {"desired_layouts": {"Conv": ["NHWC", "OHWI"]}}


def builder_models() -> dict[str, onnx.ModelProto]:
    from conftest import tiny_cnn_model, tiny_mlp_model
    from test_cmsis_nn import usual_layers
    from test_isa_backends import isa_model
    from test_ops_float import mixed_model
    from test_x86_int8 import x86_model
    import numpy as np
    return {"isa": isa_model().proto(), "x86_int8": x86_model().proto(), "mixed": mixed_model().proto(),
            "cmsis_usual": usual_layers(np.random.default_rng(3)).proto(), "tiny_cnn": tiny_cnn_model(),
            "tiny_mlp": tiny_mlp_model()}


def shared_models() -> dict[str, Path]:
    names = {"kws_int8": "mlperf_tiny/kws_ref_model_int8.onnx", "kws_f32": "mlperf_tiny/kws_ref_model_float32.onnx",
             "ww": "mlperf_tiny/str_ww_ref_model.onnx", "ad_int8": "mlperf_tiny/ad01_int8.onnx",
             "ad_f32": "mlperf_tiny/ad01_fp32.onnx", "mnist": "mnist/model.onnx",
             "mnist_qdq": "mnist/mnist-8_qdq_int8.onnx",
             "mobilenet": "mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx"}
    return {k: SHARED / "models" / v for k, v in names.items() if (SHARED / "models" / v).exists()}


# (name, board, compile options, compilers)
CONFIGS = [
    ("host-ref", "host", {}, ("gcc", "clang")),
    ("host-avx2", "host-avx2", {}, ("gcc", "clang")),
    ("host-avx2-nhwc", "host-avx2", NHWC, ("gcc",)),
    ("host-sse4", "host-sse4", {}, ("gcc", "clang")),
    ("m4-arm-dsp", "cortex-m4", {}, ("gcc",)),
    ("m4-arm-dsp-nhwc", "cortex-m4", NHWC, ("gcc",)),
    ("m4-arm-dsp-int16", "cortex-m4", {"backend_options": {"arm-dsp": {"weights": "int16"}}}, ("gcc",)),
    ("m55-helium", "cortex-m55", {}, ("gcc",)),
    ("m55-helium-nhwc", "cortex-m55", NHWC, ("gcc",)),
    ("m4-cmsis-nn", "cortex-m4", {"backends": ["cmsis-nn", "ref"]}, ("gcc",)),
    ("host-cmsis-nn", "host", {"backends": ["cmsis-nn", "ref"]}, ("gcc",)),
]


def conformance_models() -> dict[str, tuple[onnx.ModelProto, dict]]:
    import numpy as np
    from test_onnx_conformance import CASES, load_case_model, read_tensors
    out = {}
    for case in CASES:
        model = load_case_model(case.folder)
        inits = {i.name for i in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
        values = dict(zip(names, read_tensors(case.data_sets[0], "input")))
        frozen = {n: values[n] for n in case.freeze}
        shapes = {n: v.shape for n, v in values.items() if n not in frozen}
        out[case.name] = (model, {"freeze_inputs": frozen, "input_shapes": shapes})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conformance", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--show", type=int, default=0, help="print the first N warning lines per library")
    args = ap.parse_args()
    cmsis = SHARED / "third_party" / "CMSIS-NN"
    total: Counter = Counter()
    per: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        if args.conformance:
            for name, (model, extra) in conformance_models().items():
                jobs.append((f"conf:{name}", model, "host-ref", "host", extra, ("gcc",)))
        else:
            models: dict = {**builder_models(), **shared_models()}
            for cname, board, extra, ccs in CONFIGS:
                for mname, model in models.items():
                    jobs.append((f"{cname}:{mname}", model, cname, board, extra, ccs))
        for i, (label, model, cname, board, extra, ccs) in enumerate(jobs):
            if args.only not in label:
                continue
            extra = dict(extra)
            if "cmsis-nn" in extra.get("backends", []):
                extra["backend_options"] = {"cmsis-nn": {"path": str(cmsis)}}
            try:
                compiled = compile_model(model if isinstance(model, onnx.ModelProto) else str(model),
                                         CompileOptions(board=board, **extra))
                lib = write_library(compiled, Path(tmp) / f"lib{i}")
            except Exception as exc:  # a model this configuration cannot compile: not a warning count
                print(f"{label}: not compiled ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})")
                continue
            for cc in ccs:
                proc = compile_strict(lib, board, cc, werror=False)
                counts = warnings_by_flag(proc.stderr)
                if proc.returncode != 0 and not counts:
                    print(f"{label}/{cc}: compiler failed\n{proc.stderr[:2000]}")
                key = f"{cname}/{cc}"
                per.setdefault(key, Counter()).update(counts)
                total.update(counts)
                if counts:
                    print(f"{label}/{cc}: {dict(counts)}")
                    if args.show:
                        lines = [ln for ln in proc.stderr.splitlines() if "warning:" in ln or "error:" in ln]
                        print("\n".join("    " + ln for ln in lines[:args.show]))
    print("\nper configuration:")
    for key, counts in per.items():
        print(f"  {key}: {sum(counts.values())} {dict(counts)}")
    print(f"total: {sum(total.values())} {dict(sorted(total.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
