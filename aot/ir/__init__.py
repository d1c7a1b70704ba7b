from .graph import Graph, Node, QuantParams, Tensor
from .names import NameTable, c_identifier
from .printer import format_graph
from .verify import VerificationError, verify

__all__ = ["Graph", "Node", "Tensor", "QuantParams", "NameTable", "c_identifier", "format_graph",
           "verify", "VerificationError"]
