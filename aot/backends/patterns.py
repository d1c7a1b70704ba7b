"""The pattern language for backend authors (defined in aot/ir/pattern.py, where fusion passes use it
too): ``op``, ``wildcard``, ``const``, ``Pattern``; composites in aot/ir/composite.py."""
from ..ir.composite import COMPOSITE_DOMAIN, dissolve_composite, expand_composites, is_composite, make_composite
from ..ir.pattern import Const, OpPat, Pat, Pattern, PatternMatch, Wildcard, const, find_matches, op, wildcard

__all__ = ["COMPOSITE_DOMAIN", "dissolve_composite", "Const", "OpPat", "Pat", "Pattern", "PatternMatch", "Wildcard", "const",
           "expand_composites", "find_matches", "is_composite", "make_composite", "op", "wildcard"]
