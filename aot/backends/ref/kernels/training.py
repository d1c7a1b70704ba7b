"""Adagrad, Momentum and Adam of ai.onnx.preview.training (aot/ops/training.py): one loop per
optimized tensor. The step's scalars (the decayed or bias-corrected learning rate) are computed once
per call from R and T, in double as the ONNX reference does; the elementwise update runs in the
tensors' type."""
from __future__ import annotations

from ....codegen.cformat import c_double
from ....ir import Graph, Node
from ....ops.training import DOMAIN, STATES, groups
from .. import REF


def optimizer_params(node: Node, graph: Graph) -> dict:
    n = groups(node)
    per = 2 + STATES[node.op_type]
    attrs = {k: c_double(float(v)) for k, v in node.attrs.items() if isinstance(v, float)}
    defaults = {"Adagrad": {"decay_factor": 0.0, "epsilon": 1e-6, "norm_coefficient": 0.0},
                "Adam": {"alpha": 0.9, "beta": 0.999, "epsilon": 1e-6, "norm_coefficient": 0.0,
                         "norm_coefficient_post": 0.0},
                "Momentum": {}}[node.op_type]
    coeff = {**{k: c_double(v) for k, v in defaults.items()}, **attrs}
    tensors = [{"size": graph.tensors[node.inputs[2 + i]].size,
                "ins": [f"in{2 + k * n + i}" for k in range(per)],
                "outs": [f"out{k * n + i}" for k in range(per - 1)]} for i in range(n)]
    return {"tensors": tensors, "c": coeff,
            "nesterov": node.attrs.get("mode") == "nesterov"}


def _check(node: Node, graph: Graph) -> str | None:
    dtypes = {graph.tensors[i].dtype for k, i in enumerate(node.inputs) if k != 1}
    if len(dtypes) != 1 or graph.tensors[node.inputs[1]].dtype != "int64":
        return f"{node.op_type} needs one float type for R and every tensor, and an int64 T"
    return None


for _op in STATES:
    REF.kernel(_op, domain=DOMAIN, template=f"ref/training/{_op.lower()}.c.j2", check=_check,
               dtypes=("float32", "float64"), name=_op.lower())(optimizer_params)
