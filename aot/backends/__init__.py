"""Backend registry and the built-in backends."""
from . import ref  # noqa: F401  (registers "ref")
from .build import BackendOption, BuildContribution
from . import arm_dsp, helium  # noqa: F401,E402  (register "arm-dsp" and "helium": variants of ref's kernels)
from . import cmsis_nn  # noqa: F401,E402  (registers "cmsis-nn": calls into a CMSIS-NN tree the user names)
from . import x86  # noqa: F401,E402  (registers "x86-avx2": AVX2/FMA kernels for x86 hosts)
from .partition import Region, annotate_backends, partition_backends, regions
from .registry import REGISTRY, Backend, BackendRegistry, Kernel, TemplateBackend, register_backend

__all__ = ["REGISTRY", "Backend", "BackendRegistry", "Kernel", "TemplateBackend", "register_backend", "Region",
           "annotate_backends", "partition_backends", "regions", "BackendOption", "BuildContribution"]
