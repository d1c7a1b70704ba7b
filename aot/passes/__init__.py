"""Graph-to-graph passes. Each module holds one pass family; ``default_pipeline`` strings them."""
from .batchnorm import fold_batchnorm
from .context import PASSES, PassContext, Sequential, graph_pass, register_pass, unregister_pass
from .dead_code import eliminate_dead_code
from .fold_constants import fold_constants
from .fuse_activation import fuse_activation
from .fuse_bias import fuse_bias_add
from .fuse_pad import fuse_pad
from .identity import remove_identity
from .layouts import infer_layouts


def default_pipeline() -> Sequential:
    return Sequential([remove_identity, fold_constants, eliminate_dead_code, fold_batchnorm, fuse_bias_add,
                       fuse_pad, fuse_activation, eliminate_dead_code, infer_layouts])


__all__ = ["PASSES", "PassContext", "Sequential", "graph_pass", "register_pass", "unregister_pass", "default_pipeline", "fold_batchnorm",
           "eliminate_dead_code", "fold_constants", "fuse_activation", "fuse_bias_add", "fuse_pad",
           "remove_identity", "infer_layouts"]
