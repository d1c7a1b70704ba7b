"""Einsum equations: parsed once into letters per operand, the output letters and each letter's size.

Shared by the op table (validation, MACs) and the ref kernel (loop nest). Ellipses become letters
of their own (upper-case A.. are never used by exporters' lower-case equations, and ONNX letters
are case-sensitive, so fresh names are taken from the letters the equation does not use).
"""
from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class EinsumSpec:
    inputs: tuple[str, ...]  # one letter per axis of each operand
    output: str  # the output's letters, in order
    sizes: dict  # letter -> size

    @property
    def reduced(self) -> str:
        """Letters summed over: in some operand, not in the output (sorted for a stable loop order)."""
        seen = "".join(dict.fromkeys("".join(self.inputs)))
        return "".join(c for c in seen if c not in self.output)


def parse_einsum(equation: str, shapes: list[tuple[int, ...]]) -> EinsumSpec:
    """The equation resolved against the operand shapes; ValueError says what is wrong."""
    eq = equation.replace(" ", "")
    if not eq:
        raise ValueError("the equation is empty")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"equation '{equation}' names {len(terms)} operands, the node has {len(shapes)}")
    allowed = set(string.ascii_letters) | {"."}
    if any(c not in allowed for c in lhs.replace(",", "") + rhs):
        raise ValueError(f"equation '{equation}' has characters other than letters, ',', '...' and '->'")
    used = set(c for c in eq if c.isalpha())
    fresh = [c for c in string.ascii_letters[::-1] if c not in used]
    ell_rank = 0
    for term, shape in zip(terms, shapes):
        if term.count("...") > 1 or term.replace("...", "").count(".") or term.count(".") % 3:
            raise ValueError(f"operand term '{term}' has a malformed ellipsis")
        named = len(term.replace("...", ""))
        if "..." in term:
            if named > len(shape):
                raise ValueError(f"operand term '{term}' names {named} axes, the operand has rank {len(shape)}")
            ell_rank = max(ell_rank, len(shape) - named)
        elif named != len(shape):
            raise ValueError(f"operand term '{term}' names {named} axes, the operand has rank {len(shape)}")
    ell = "".join(fresh[:ell_rank])
    inputs, sizes = [], {}
    for term, shape in zip(terms, shapes):
        if "..." in term:
            own = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[ell_rank - own:])
        for c, d in zip(term, shape):
            if c in ell and 1 in (sizes.get(c, d), d):  # ellipsis axes broadcast (numpy's rule)
                sizes[c] = max(sizes.get(c, d), d)
                continue
            if c in sizes and sizes[c] != d:
                raise ValueError(f"letter '{c}' has sizes {sizes[c]} and {d}")
            sizes[c] = d
        inputs.append(term)
    if arrow:
        if rhs.count("...") > 1 or rhs.replace("...", "").count("."):
            raise ValueError(f"output term '{rhs}' has a malformed ellipsis")
        output = rhs.replace("...", ell)
        if ell and "..." not in rhs:
            raise ValueError(f"output term '{rhs}' drops the ellipsis dimensions")
        if len(set(output)) != len(output):
            raise ValueError(f"output term '{rhs}' repeats a letter")
        missing = [c for c in output if c not in sizes]
        if missing:
            raise ValueError(f"output letters {missing} appear in no operand")
    else:  # implicit form: the ellipsis, then letters seen once, alphabetically
        counts = "".join(t.replace("...", "") for t in terms)
        output = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    return EinsumSpec(tuple(inputs), output, sizes)
