"""The helium backend: int8 kernels for Helium, the M-profile Vector Extension (MVE) of Cortex-M55
(sixteen int8 lanes; VMLADAVA sums sixteen products into a scalar accumulator). Each kernel is a
variant of a ref kernel (aot/backends/variants.py) computing its integers bit for bit; templates in
templates/helium/. Offered only on boards whose board.toml lists the "mve" feature; it registers
through the public API like any plug-in."""
from ..registry import REGISTRY, TemplateBackend

HELIUM = TemplateBackend("helium", features=("mve",), runtime_headers=("aot_helium.h",))

from ..float_tiles import add_float_tiles  # noqa: E402
from . import kernels  # noqa: E402,F401  (adds the int8 kernels to HELIUM)

add_float_tiles(HELIUM, scalar=False)  # ref's float tiles, which compilers vectorise with MVE's float lanes

if HELIUM.name not in REGISTRY.backends:
    REGISTRY.register(HELIUM)
