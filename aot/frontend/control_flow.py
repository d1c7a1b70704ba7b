"""Control flow (If, Loop, Scan), Optional ops on tensors and sequence ops, expanded at import.

aot compiles static graphs, but exporters emit control flow whose decisions are known at compile time
once shapes are static: an If on a rank or shape test (torch dynamo's checks, AffineGrid's function
body), a Scan over a sequence of static length (LinearAttention, RNN cells), a Loop with a constant
trip count (Range's function body). The importer hands each such node here while it walks the
graph, when everything before it is imported and constants are folded, so an If condition computed
by Shape->Equal is a constant by then. The node is replaced by copies of its subgraph's nodes,
imported one after the other through the importer itself (so nested control flow expands the same
way, and the copies' constants fold as well):

- If: the branch the constant condition selects;
- Scan: one copy of the body per element along the scan axis, fed by Gather of that element and
  chained through the state variables; scan outputs are Unsqueezed and Concatenated;
- Loop: one copy of the body per iteration, with the iteration number as a constant, while the trip
  count allows and the loop-carried condition (which must fold at every iteration) holds.

Optional values that hold a tensor are that tensor (an empty one is remembered as such); sequences
are resolved to lists of tensors by static_sequences.py. Copied tensors get fresh names
(``<name>__<tag>``, deterministic); names a subgraph reads from an enclosing scope resolve to the
enclosing tensors, also inside nested subgraphs. A decision that
depends on input values is refused with the reason, and so is an unrolling beyond ``MAX_ITERATIONS``
or ``MAX_NODES``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np
import onnx
from onnx import helper

from ..ir.names import unique_name
from .static_sequences import SEQUENCE_OPS, expand_sequence_op

if TYPE_CHECKING:  # the importer passes itself; imported only for the annotations
    from .importer import _Importer

CONTROL_FLOW_OPS = ("If", "Loop", "Scan")
OPTIONAL_OPS = ("Optional", "OptionalHasElement", "OptionalGetElement")
EXPANDED_OPS = CONTROL_FLOW_OPS + OPTIONAL_OPS + SEQUENCE_OPS  # compiled with no kernel of their own
# Op -> the input positions it reads at compile time (If's condition, Loop's trip count and condition);
# the conformance suite freezes graph inputs that decide them, as it does kernels' static inputs.
COMPILE_TIME_INPUTS = {"If": frozenset({0}), "Loop": frozenset({0, 1})}
MAX_ITERATIONS = 4096  # an unrolled loop this long is already larger than a microcontroller model
MAX_NODES = 200_000  # body nodes copied by all expansions of one model together
MAX_CONCAT_INPUTS = 64  # per Concat node built here (longer lists are joined in a tree)


class ControlFlowExpander:
    """Expands the control-flow, Optional and sequence nodes of one import, through that importer."""

    def __init__(self, importer: "_Importer"):
        self.imp = importer
        self._taken: set[str] | None = None  # every tensor name of the model, gathered on first use
        self.copied_nodes = 0
        self.empty_optionals: set[str] = set()  # ONNX names of Optional() values that hold nothing
        self.sequences: dict[str, list[str]] = {}  # ONNX name of a sequence -> its tensors (static_sequences.py)

    # -- entry ------------------------------------------------------------------------------------
    def handles(self, node: onnx.NodeProto) -> bool:
        """Whether the importer hands ``node`` to :meth:`expand` instead of importing it."""
        if node.domain not in ("", "ai.onnx"):
            return False
        return node.op_type in EXPANDED_OPS or (node.op_type == "Identity" and bool(node.input)
                                                and node.input[0] in self.sequences)

    def expand(self, node: onnx.NodeProto) -> str | None:
        """Import ``node`` as plain nodes; the reason it cannot be, or None when it was."""
        if node.op_type in SEQUENCE_OPS or node.op_type == "Identity":
            return expand_sequence_op(self, node)
        handler = {"If": self._if, "Loop": self._loop, "Scan": self._scan, "Optional": self._optional,
                   "OptionalHasElement": self._optional_has_element,
                   "OptionalGetElement": self._optional_get_element}[node.op_type]
        return handler(node)

    def not_a_tensor(self, onnx_name: str) -> str | None:
        """What ``onnx_name`` is when it names a value the IR holds no tensor for (None: not one of those)."""
        if onnx_name in self.sequences:
            return (f"a sequence (of {len(self.sequences[onnx_name])} tensors), which aot resolves at compile "
                    f"time; only sequence ops read it, and graph inputs and outputs must be tensors")
        if onnx_name in self.empty_optionals:
            return "an empty optional, which holds no tensor"
        return None

    # -- what the importer knows ------------------------------------------------------------------
    def _constant(self, onnx_name: str) -> np.ndarray | None:
        ir = self.imp.ir_name.get(onnx_name)
        return None if ir is None else self.imp.graph.tensors[ir].data

    def _shape(self, onnx_name: str) -> tuple[int, ...]:
        return self.imp.graph.tensors[self.imp.ir_name[onnx_name]].shape

    def _unavailable(self, names: Iterable[str]) -> str | None:
        """Why a needed input cannot be read (it is produced by a blocked node, or never), or None."""
        for name in names:
            if name in self.sequences:
                return f"its input '{name}' is a sequence, not a tensor"
            if name in self.imp.unresolved:
                return f"its input '{name}' comes from a node that cannot be compiled"
            if name and name not in self.imp.ir_name:
                return f"its input '{name}' is never produced"
        return None

    def _runtime_sources(self, onnx_name: str) -> str:
        """`` (from graph inputs 'a', 'b')``: the graph inputs ``onnx_name`` is computed from, for messages."""
        found = sorted(self.imp._graph_inputs_behind([onnx_name]))
        return f" (from graph input{'s' if len(found) > 1 else ''} {', '.join(repr(f) for f in found)})" \
            if found else ""

    def _import(self, nodes: list[onnx.NodeProto]) -> None:
        for n in nodes:
            self.imp._import_node(n)

    def _const_node(self, base: str, value: np.ndarray) -> tuple[str, onnx.NodeProto]:
        name = self._fresh(base)
        return name, helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(value, name))

    # -- names ------------------------------------------------------------------------------------
    def _fresh(self, base: str) -> str:
        if self._taken is None:
            self._taken = set(_all_names(self.imp.model.graph)) | {""}  # "" means no tensor: never a name
        return unique_name(base, self._taken, first_suffix=2)

    def _copy_body(self, body: onnx.GraphProto, bind: dict[str, str],
                   tag: str) -> tuple[list[onnx.NodeProto], list[str]]:
        """Copies of ``body``'s nodes with its inputs bound to ``bind`` (body input -> tensor) and its
        own tensors renamed ``<name>__<tag>``; returns them and the names of the body's outputs."""
        mapping = dict(bind)
        nodes: list[onnx.NodeProto] = []
        for init in list(body.initializer):  # rare in subgraphs: they become Constant nodes
            new = self._fresh(f"{init.name}__{tag}")
            mapping[init.name] = new
            tensor = onnx.TensorProto()
            tensor.CopyFrom(init)
            tensor.name = new
            nodes.append(helper.make_node("Constant", [], [new], value=tensor))
        # A body's Identity nodes (cond_out = Identity(cond_in), scan_out = Identity(state)) are not
        # copied: their output is another name of their input. Unrolled, they would be thousands of
        # nodes for the identity pass to remove one by one.
        aliases = [n for n in body.node if _is_plain_identity(n)]
        for n in body.node:
            if not _is_plain_identity(n):
                for o in n.output:
                    if o:
                        mapping[o] = self._fresh(f"{o}__{tag}")
        for _ in range(len(aliases)):  # chains resolve in one round when the body is in order
            changed = False
            for n in aliases:
                target = mapping.get(n.input[0], n.input[0])
                if mapping.get(n.output[0]) != target:
                    mapping[n.output[0]], changed = target, True
            if not changed:
                break
        for n in body.node:
            if _is_plain_identity(n):
                continue
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            _substitute(copy, mapping)
            if copy.name:
                copy.name = f"{copy.name}__{tag}"
            nodes.append(copy)
        self.copied_nodes += len(nodes)
        return nodes, [mapping.get(o.name, o.name) for o in body.output]

    def _budget(self, op: str, iterations: int, body_nodes: int, done: int = 0) -> str | None:
        """Why unrolling ``iterations`` in all (``done`` of them copied already) is too much, or None."""
        if iterations > MAX_ITERATIONS:
            return (f"{op}: {iterations} iterations to unroll, more than the limit of {MAX_ITERATIONS} "
                    f"(aot compiles control flow by unrolling it)")
        total = self.copied_nodes + (iterations - done) * body_nodes
        if total > MAX_NODES:
            return (f"{op}: unrolling {iterations} iterations of {body_nodes} body nodes would make {total} "
                    f"copied nodes in the model, more than the limit of {MAX_NODES}")
        return None

    def _wire(self, sources: list[str], targets: Iterable[str]) -> list[onnx.NodeProto]:
        """Identity nodes copying each source to the node output it stands for (unused outputs skipped).
        The identity pass removes them; a constant source folds."""
        return [helper.make_node("Identity", [s], [t]) for s, t in zip(sources, targets) if t]

    def _stack(self, parts: list[str], axis: int, target: str) -> list[onnx.NodeProto]:
        """Nodes writing ``parts`` (tensors of one shape) stacked along a new ``axis`` to ``target``."""
        axes_name, axes = self._const_node(f"{target}__axes", np.array([axis], dtype=np.int64))
        nodes = [axes]
        if len(parts) == 1:
            return nodes + [helper.make_node("Unsqueeze", [parts[0], axes_name], [target])]
        expanded = []
        for k, part in enumerate(parts):
            name = self._fresh(f"{target}__{k}")
            nodes.append(helper.make_node("Unsqueeze", [part, axes_name], [name]))
            expanded.append(name)
        return nodes + self._concat(expanded, axis, target)

    def _concat(self, parts: list[str], axis: int, target: str) -> list[onnx.NodeProto]:
        """Concat nodes joining ``parts`` along ``axis`` into ``target``, at most MAX_CONCAT_INPUTS at a
        time: a Concat kernel takes each input as a C parameter, and C99 promises 127 of them."""
        nodes: list[onnx.NodeProto] = []
        level = 0
        while len(parts) > MAX_CONCAT_INPUTS:
            joined = []
            for start in range(0, len(parts), MAX_CONCAT_INPUTS):
                name = self._fresh(f"{target}__join{level}_{start // MAX_CONCAT_INPUTS}")
                nodes.append(helper.make_node("Concat", parts[start:start + MAX_CONCAT_INPUTS], [name], axis=axis))
                joined.append(name)
            parts, level = joined, level + 1
        return nodes + [helper.make_node("Concat", parts, [target], axis=axis)]

    # -- If ---------------------------------------------------------------------------------------
    def _if(self, node: onnx.NodeProto) -> str | None:
        missing = self._unavailable(node.input[:1])
        if missing:
            return f"If: {missing}"
        cond = self._constant(node.input[0])
        if cond is None:
            return (f"If: the condition depends on input values{self._runtime_sources(node.input[0])}; aot "
                    f"compiles control flow only where its decisions are known at compile time (from shapes "
                    f"or constants)")
        if cond.size != 1:
            return f"If: the condition has {cond.size} elements, it must hold one"
        branch = "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"
        body = _graph_attribute(node, branch)
        if body is None:
            return f"If: it has no {branch}"
        if len(body.output) != len(node.output):
            return f"If: the {branch} has {len(body.output)} outputs, the node {len(node.output)}"
        tag = f"{_label(node)}_{branch[:4]}"
        nodes, outs = self._copy_body(body, {}, tag)
        self._import(nodes + self._wire(outs, node.output))
        return None

    # -- Scan (opset 9 and later) -----------------------------------------------------------------
    def _scan(self, node: onnx.NodeProto) -> str | None:
        body = _graph_attribute(node, "body")
        if body is None:
            return "Scan: it has no body graph"
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "body"}
        m = int(attrs.get("num_scan_inputs", 0))
        n_states = len(node.input) - m
        k_outs = len(body.output) - n_states
        if m < 1 or n_states < 0 or k_outs < 0 or len(body.input) != len(node.input):
            return (f"Scan: {len(node.input)} inputs with num_scan_inputs={m} do not match its body "
                    f"({len(body.input)} inputs, {len(body.output)} outputs)")
        missing = self._unavailable(node.input)
        if missing:
            return f"Scan: {missing}"
        scans = list(node.input[n_states:])
        in_axes = list(attrs.get("scan_input_axes", [0] * m))
        in_dirs = list(attrs.get("scan_input_directions", [0] * m))
        out_axes = list(attrs.get("scan_output_axes", [0] * k_outs))
        out_dirs = list(attrs.get("scan_output_directions", [0] * k_outs))
        if len(in_axes) != m or len(in_dirs) != m or len(out_axes) != k_outs or len(out_dirs) != k_outs:
            return "Scan: scan_input_axes/directions or scan_output_axes/directions have the wrong length"
        lengths = set()
        for j, name in enumerate(scans):
            rank = len(self._shape(name))
            if not -rank <= in_axes[j] < rank:
                return f"Scan: scan_input_axes[{j}]={in_axes[j]} is outside the rank {rank} of '{name}'"
            in_axes[j] %= rank
            lengths.add(self._shape(name)[in_axes[j]])
        if len(lengths) != 1:
            return f"Scan: the scan inputs have different lengths {sorted(lengths)} along their scan axes"
        length = lengths.pop()
        if length == 0:
            return "Scan: the scan axis has length 0 (nothing to unroll; the scan outputs would be empty)"
        too_many = self._budget("Scan", length, len(body.node))
        if too_many:
            return too_many
        label = _label(node)
        states = list(node.input[:n_states])
        per_iteration: list[list[str]] = [[] for _ in range(k_outs)]
        for t in range(length):
            bind = dict(zip([i.name for i in body.input[:n_states]], states))
            feed: list[onnx.NodeProto] = []
            for j, name in enumerate(scans):
                index = t if not in_dirs[j] else length - 1 - t
                idx_name, idx_node = self._const_node(f"{label}_index{index}", np.array(index, dtype=np.int64))
                element = self._fresh(f"{body.input[n_states + j].name}__{label}_it{t}")
                feed += [idx_node, helper.make_node("Gather", [name, idx_name], [element], axis=in_axes[j])]
                bind[body.input[n_states + j].name] = element
            nodes, outs = self._copy_body(body, bind, f"{label}_it{t}")
            self._import(feed + nodes)
            states = outs[:n_states]
            for k in range(k_outs):
                per_iteration[k].append(outs[n_states + k])
        tail = self._wire(states, node.output[:n_states])
        for k, target in enumerate(node.output[n_states:]):
            if not target:
                continue
            parts = per_iteration[k][::-1] if out_dirs[k] else per_iteration[k]
            rank = len(self._shape(parts[0])) + 1
            if not -rank <= out_axes[k] < rank:
                return f"Scan: scan_output_axes[{k}]={out_axes[k]} is outside the output rank {rank}"
            tail += self._stack(parts, out_axes[k] % rank, target)
        self._import(tail)
        return None

    # -- Loop -------------------------------------------------------------------------------------
    def _loop(self, node: onnx.NodeProto) -> str | None:
        body = _graph_attribute(node, "body")
        if body is None:
            return "Loop: it has no body graph"
        n_carried = len(node.input) - 2
        k_outs = len(body.output) - 1 - n_carried
        if n_carried < 0 or len(body.input) != 2 + n_carried or k_outs < 0:
            return (f"Loop: {len(node.input)} inputs do not match its body ({len(body.input)} inputs, "
                    f"{len(body.output)} outputs)")
        trip_name, cond_name = node.input[0], node.input[1]
        missing = self._unavailable([trip_name, cond_name])
        if missing:
            return f"Loop: {missing}"
        trip = self._constant(trip_name) if trip_name else None
        if trip_name and trip is None:
            return (f"Loop: the trip count depends on input values{self._runtime_sources(trip_name)}; aot compiles "
                    f"control flow by unrolling, so the trip count must be known at compile time")
        cond = self._constant(cond_name) if cond_name else np.array(True)
        if cond is None:
            return (f"Loop: the initial condition depends on input values{self._runtime_sources(cond_name)}; aot "
                    f"compiles control flow by unrolling loops it can count at compile time")
        if trip is None and not cond_name:
            return "Loop: it has neither a trip count nor a condition (it would never end)"
        if (trip is not None and trip.size != 1) or cond.size != 1:
            return "Loop: the trip count and the condition must hold one value each"
        limit = int(trip.reshape(-1)[0]) if trip is not None else None
        if limit is not None and not cond_name:  # a for loop: its length is known before unrolling
            too_many = self._budget("Loop", limit, len(body.node))
            if too_many:
                return too_many
        label = _label(node)
        carried = list(node.input[2:])
        current_cond = cond_name or None  # the body's condition input; a constant True when absent
        per_iteration: list[list[str]] = [[] for _ in range(k_outs)]
        i = 0
        while (limit is None or i < limit) and bool(cond.reshape(-1)[0]):
            too_many = self._budget("Loop", i + 1, len(body.node), done=i)
            if too_many:
                return too_many + (" (the loop had not ended when the limit was reached)" if cond_name else "")
            iter_name, iter_node = self._const_node(f"{label}_iter{i}", np.array(i, dtype=np.int64))
            feed = [iter_node]
            if current_cond is None:
                current_cond, true_node = self._const_node(f"{label}_true", np.array(True))
                feed.append(true_node)
            bind = {body.input[0].name: iter_name, body.input[1].name: current_cond}
            bind.update(zip([v.name for v in body.input[2:]], carried))
            nodes, outs = self._copy_body(body, bind, f"{label}_it{i}")
            self._import(feed + nodes)
            carried = outs[1:1 + n_carried]
            for k in range(k_outs):
                per_iteration[k].append(outs[1 + n_carried + k])
            i += 1
            if cond_name:  # without a condition input, the body's condition output is ignored (ONNX spec)
                missing = self._unavailable(outs[:1])
                if missing:
                    return f"Loop: the condition of iteration {i - 1}: {missing}"
                cond = self._constant(outs[0])
                if cond is not None and cond.size != 1:
                    return f"Loop: the condition computed by iteration {i - 1} has {cond.size} values, not one"
                if cond is None:
                    return (f"Loop: the condition computed by iteration {i - 1} depends on input values"
                            f"{self._runtime_sources(outs[0])}; aot "
                            f"compiles control flow by unrolling loops it can count at compile time")
                current_cond = outs[0]
        tail = self._wire(carried, node.output[:n_carried])
        for k, target in enumerate(node.output[n_carried:]):
            if not target:
                continue
            if not per_iteration[k]:
                return f"Loop: it runs no iteration, so its scan output '{target}' would be empty"
            tail += self._stack(per_iteration[k], 0, target)
        self._import(tail)
        return None

    # -- Optional (tensor values only) ------------------------------------------------------------
    def _optional(self, node: onnx.NodeProto) -> str | None:
        if node.input and node.input[0]:
            missing = self._unavailable(node.input[:1])
            if missing:
                return f"Optional: {missing}"
            self._import(self._wire([node.input[0]], node.output))
        else:
            self.empty_optionals.add(node.output[0])
        return None

    def _optional_has_element(self, node: onnx.NodeProto) -> str | None:
        name = node.input[0] if node.input else ""
        if name and name not in self.empty_optionals:
            missing = self._unavailable([name])
            if missing:
                return f"OptionalHasElement: {missing}"
        present = bool(name) and name not in self.empty_optionals
        const_name, const_node = self._const_node(f"{node.output[0]}__value", np.array(present))
        self._import([const_node] + self._wire([const_name], node.output))
        return None

    def _optional_get_element(self, node: onnx.NodeProto) -> str | None:
        name = node.input[0]
        if name in self.empty_optionals:
            return "OptionalGetElement: the optional value is empty (ONNX Runtime fails on it at run time)"
        missing = self._unavailable([name])
        if missing:
            return f"OptionalGetElement: {missing}"
        self._import(self._wire([name], node.output))
        return None


# -- helpers ----------------------------------------------------------------------------------------

def _is_plain_identity(node: onnx.NodeProto) -> bool:
    return (node.op_type == "Identity" and node.domain in ("", "ai.onnx") and len(node.input) == 1
            and len(node.output) == 1 and bool(node.input[0]) and bool(node.output[0]))


def _label(node: onnx.NodeProto) -> str:
    return node.name or next((o for o in node.output if o), node.op_type)


def _graph_attribute(node: onnx.NodeProto, name: str) -> onnx.GraphProto | None:
    return next((a.g for a in node.attribute if a.name == name and a.type == onnx.AttributeProto.GRAPH), None)


def _all_names(graph: onnx.GraphProto) -> Iterable[str]:
    """Every tensor name ``graph`` and its subgraphs define or read."""
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        yield vi.name
    for init in graph.initializer:
        yield init.name
    for n in graph.node:
        yield from n.input
        yield from n.output
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                yield from _all_names(g)


def all_inputs(node: onnx.NodeProto) -> list[str]:
    """``node``'s inputs and the enclosing-scope tensors its subgraphs read (they must be computed first)."""
    if not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
        return list(node.input)
    free: list[str] = []
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            free += _free_names(g)
    return list(node.input) + [f for f in dict.fromkeys(free) if f not in node.input]


def _free_names(graph: onnx.GraphProto) -> list[str]:
    """The names ``graph`` (and its subgraphs) read but do not define."""
    local = _defined_in(graph)
    read = [i for n in graph.node for i in all_inputs(n)] + [o.name for o in graph.output]
    return [r for r in read if r and r not in local]


def _defined_in(graph: onnx.GraphProto) -> set[str]:
    return ({i.name for i in graph.input} | {i.name for i in graph.initializer}
            | {o for n in graph.node for o in n.output})


def _substitute(node: onnx.NodeProto, mapping: dict[str, str]) -> None:
    """Rename ``node``'s inputs and outputs by ``mapping``, and the enclosing-scope names its subgraphs
    read (a name a subgraph defines itself hides the enclosing one there)."""
    node.input[:] = [mapping.get(i, i) if i else i for i in node.input]
    node.output[:] = [mapping.get(o, o) if o else o for o in node.output]
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            _substitute_free(g, mapping)


def _substitute_free(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    local = _defined_in(graph)
    visible = {k: v for k, v in mapping.items() if k not in local}
    if not visible:
        return
    for n in graph.node:
        n.input[:] = [visible.get(i, i) if i else i for i in n.input]
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _substitute_free(g, visible)
    for out in graph.output:  # a subgraph may return an enclosing tensor as it is
        if out.name in visible:
            out.name = visible[out.name]
