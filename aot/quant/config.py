"""Per-layer and per-tensor quantization settings, addressed by stable IR/ONNX names or op type.

File form (TOML or JSON):

    [default]                 observer = "minmax" | "percentile" | "mse"; granularity = "per_channel"
    [layers."conv1"]          precision = "float"          (keep this layer in float: mixed precision)
    [layers."Gemm"]           granularity = "per_tensor"   (an op type addresses every layer of that type)
    [tensors."relu_out"]      observer = "percentile"  /  scale = 0.05, zero_point = -128 (pinned)

A layer entry by name wins over one by op type, which wins over [default].
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AotError
from ..ir import Node
from .observers import OBSERVERS

LAYER_KEYS = {"precision", "granularity", "observer"}
TENSOR_KEYS = {"observer", "scale", "zero_point"}


@dataclass
class QuantConfig:
    default: dict[str, Any] = field(default_factory=lambda: {"observer": "minmax", "granularity": "per_channel"})
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    tensors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_layer(self, node: Node) -> dict[str, Any]:
        merged = dict(self.default)
        merged.update(self.layers.get(node.op_type, {}))
        for key in (node.meta.get("onnx_name"), node.name):
            if key and key in self.layers:
                merged.update(self.layers[key])
        return merged

    def keeps_float(self, node: Node) -> bool:
        return self.for_layer(node).get("precision", "int8") == "float"

    def for_tensor(self, name: str, onnx_name: str | None) -> dict[str, Any]:
        merged = {"observer": self.default.get("observer", "minmax")}
        for key in (onnx_name, name):
            if key and key in self.tensors:
                merged.update(self.tensors[key])
        return merged

    def validate(self) -> "QuantConfig":
        for where, table, keys in (("layers", self.layers, LAYER_KEYS), ("tensors", self.tensors, TENSOR_KEYS)):
            for name, entry in table.items():
                unknown = set(entry) - keys
                if unknown:
                    raise AotError(f"quantization config: {where}.{name} has unknown keys {sorted(unknown)} "
                                   f"(allowed: {sorted(keys)})")
        for entry in [self.default, *self.layers.values(), *self.tensors.values()]:
            if "observer" in entry and entry["observer"] not in OBSERVERS:
                raise AotError(f"quantization config: unknown observer '{entry['observer']}' "
                               f"(choose {', '.join(OBSERVERS)})")
            if entry.get("precision", "int8") not in ("int8", "float"):
                raise AotError(f"quantization config: precision must be 'int8' or 'float', not '{entry['precision']}'")
            if entry.get("granularity", "per_channel") not in ("per_channel", "per_tensor"):
                raise AotError(f"quantization config: granularity must be per_channel or per_tensor")
        return self

    @classmethod
    def load(cls, path: str | Path) -> "QuantConfig":
        path = Path(path)
        try:
            if path.suffix == ".toml":
                import tomllib
                data = tomllib.loads(path.read_text())
            else:
                data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise AotError(f"cannot read quantization config '{path}': {exc}") from None
        default = {"observer": "minmax", "granularity": "per_channel", **data.get("default", {})}
        return cls(default, dict(data.get("layers", {})), dict(data.get("tensors", {}))).validate()
