"""The arm-dsp backend: int8 kernels for the Arm DSP extension of Cortex-M4, M7, M33 and M55 (SIMD
on int16 and int8 lanes of a register: SMLAD, SXTB16, USADA8, ...), and float kernels for their scalar
FPU (aot/backends/float_tiles.py). Each kernel is a variant of a ref
kernel (aot/backends/variants.py) computing its integers bit for bit; templates in templates/arm-dsp/.
Offered only on boards whose board.toml lists the "dsp" feature; it registers through the public API
like any plug-in."""
from ..build import BackendOption
from ..registry import REGISTRY, TemplateBackend

ARM_DSP = TemplateBackend("arm-dsp", features=("dsp",), runtime_headers=("aot_arm_dsp.h", "aot_arm_dsp_fc.h"))
ARM_DSP.options = (BackendOption("weights", default="int8",
                                 help="weights of the tiled Conv and fully connected layers in flash: int8 (as "
                                      "in the model) or int16 (unpacked at compile time: twice the bytes, fewer "
                                      "instructions)", choices=("int8", "int16")),)

from ..float_tiles import add_float_tiles  # noqa: E402
from . import kernels  # noqa: E402,F401  (adds the int8 kernels to ARM_DSP)

add_float_tiles(ARM_DSP, scalar=True)

if ARM_DSP.name not in REGISTRY.backends:
    REGISTRY.register(ARM_DSP)
