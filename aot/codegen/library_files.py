"""The file names of a generated library, per ``--prefix``, and where readers find them.

With ``--prefix kws`` the library's own files are ``kws.h``, ``kws.c``, ``kws_arena.c``,
``kws_kernels.h``, ``kws_kernels_<backend>.c``, ``kws_weights.h`` (and ``kws_weights.c`` or
``kws_weights.bin`` with ``--weights-file``), so two libraries can share one flat source folder
(STM32CubeMX, Keil). The default prefix ``model`` keeps the names aot always used (``model.h``,
``model.c``, ``kernels.h``, ``kernels_<backend>.c``, ``weights.h``); files that did not exist before
(``<prefix>_arena.c``, ``<prefix>_weights.c``, ``<prefix>_weights.bin``) always carry the prefix.

The runtime headers (``aot_runtime.h``, ``aot_arm_dsp.h``, ...) keep their names: they are header-only
(static inline), include-guarded, and copied verbatim from aot, so two libraries of one aot version
hold identical copies and a flat folder needs one.

Whatever reads a library folder (the host build, ``aot run``'s firmware, the packages, tests) takes
the names from ``metadata.json``'s ``library`` key through :func:`api_header` and friends, never by
assuming ``model.h``.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "model"
WEIGHTS_FILES = ("header", "c", "bin")  # CompileOptions.weights_file / --weights-file


@dataclass(frozen=True)
class LibraryNames:
    prefix: str

    def _own(self, base: str) -> str:
        """A file aot wrote before file names followed the prefix: unchanged for the default prefix."""
        return base if self.prefix == DEFAULT_PREFIX else f"{self.prefix}_{base}"

    @property
    def header(self) -> str:
        return f"{self.prefix}.h"

    @property
    def source(self) -> str:
        return f"{self.prefix}.c"

    @property
    def arena_source(self) -> str:
        return f"{self.prefix}_arena.c"

    @property
    def kernels_header(self) -> str:
        return self._own("kernels.h")

    @property
    def weights_header(self) -> str:
        return self._own("weights.h")

    @property
    def weights_source(self) -> str:
        return f"{self.prefix}_weights.c"

    @property
    def weights_blob(self) -> str:
        return f"{self.prefix}_weights.bin"

    def kernel_source(self, backend: str) -> str:
        return self._own(f"kernels_{backend}.c")

    # -- macros and symbols of placement -----------------------------------------------------------
    @property
    def no_static_arena(self) -> str:
        return f"{self.prefix.upper()}_NO_STATIC_ARENA"

    @property
    def weights_section(self) -> str:
        return f"{self.prefix.upper()}_WEIGHTS_SECTION"

    @property
    def arena_section(self) -> str:
        return f"{self.prefix.upper()}_ARENA_SECTION"

    @property
    def weights_base(self) -> str:
        return f"{self.prefix}_weights_base"


def library_record(names: LibraryNames, sources: list[str], headers: list[str], weights_file: str,
                   weights_blob_bytes: int | None, alignment: int) -> dict:
    """metadata.json's ``library`` key: the file names a reader needs and the placement knobs."""
    weights: dict = {"file": weights_file}
    if weights_file != "bin":
        weights["section_macro"] = names.weights_section
    else:
        weights.update(blob=names.weights_blob, bytes=weights_blob_bytes, alignment=alignment,
                       base_symbol=names.weights_base, base_macro=f"{names.prefix.upper()}_WEIGHTS_BASE")
    return {"header": names.header, "sources": sources, "headers": headers,
            "static_arena": {"source": names.arena_source, "symbol": f"{names.prefix}_arena",
                             "disable_macro": names.no_static_arena, "section_macro": names.arena_section},
            "weights": weights}


def _library(meta: dict) -> dict:
    lib = meta.get("library")
    return lib if isinstance(lib, dict) else {}


def api_header(meta: dict) -> str:
    """The header declaring ``<prefix>_run`` (``model.h`` for libraries from before the key existed)."""
    return _library(meta).get("header", "model.h")


def weights_blob(meta: dict) -> dict | None:
    """The ``--weights-file bin`` record (blob file, bytes, alignment, base symbol), or None."""
    weights = _library(meta).get("weights") or {}
    return weights if weights.get("file") == "bin" else None
