"""Stable, unique, C-safe names derived from ONNX names."""
import re

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline "
    "int long register restrict return short signed sizeof static struct switch typedef union unsigned "
    "void volatile while _Bool _Complex _Imaginary main".split()
)

_INVALID = re.compile(r"[^A-Za-z0-9_]")
# C99 guarantees 63 significant characters in identifiers; generated names add prefixes.
MAX_LENGTH = 48


def c_identifier(raw: str, fallback: str = "t") -> str:
    """Map any string to a valid C identifier, keeping it recognisable."""
    name = re.sub("_+", "_", _INVALID.sub("_", raw)).strip("_") or fallback
    if len(name) > MAX_LENGTH:  # keep the head (the layer) and the tail (what distinguishes outputs)
        name = name[:20].rstrip("_") + "_" + name[-(MAX_LENGTH - 21):].lstrip("_")
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in C_KEYWORDS:
        name = f"{name}_"
    return name


class NameTable:
    """Hands out unique C identifiers; a collision gets the lowest free numeric suffix, so the result
    depends only on the order of requests (deterministic)."""

    def __init__(self, reserved: set[str] | None = None):
        self._used: set[str] = set(reserved or ())

    def claim(self, raw: str, fallback: str = "t") -> str:
        """A unique C identifier derived from ``raw``."""
        return self.unique(c_identifier(raw, fallback))

    def unique(self, base: str) -> str:
        """``base`` itself if free, else ``base_1``, ``base_2``, ... (no other change to the text)."""
        name, n = base, 1
        while name in self._used:
            name = f"{base}_{n}"
            n += 1
        self._used.add(name)
        return name

    def __contains__(self, name: str) -> bool:
        return name in self._used

    def release(self, name: str) -> None:
        self._used.discard(name)
