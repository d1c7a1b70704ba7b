"""The portable reference C backend. It registers through the public API like any plug-in; its
kernels live one family per module in ``kernels/`` and one template per family in templates/ref/."""
import importlib
import pkgutil

from ..registry import REGISTRY, TemplateBackend

REF = TemplateBackend("ref", runtime_headers=("aot_formats.h",))  # narrow formats: Cast and graph I/O


def _load_kernels() -> None:
    from . import kernels
    for info in sorted(pkgutil.iter_modules(kernels.__path__), key=lambda m: m.name):
        importlib.import_module(f"{kernels.__name__}.{info.name}")


_load_kernels()
if "ref" not in REGISTRY.backends:
    REGISTRY.register(REF)
