"""The cmsis-nn backend: int8 layers run by Arm's CMSIS-NN library (its ``arm_*_s8`` functions), a
library the user points at (``--backend-option cmsis-nn.path=DIR`` or ``CMSIS_NN_PATH``); the project
never copies its sources. The generated kernels call CMSIS-NN's wrappers with the layer's constants;
the library build compiles, from the user's tree, only the CMSIS-NN sources those calls reach
(sources.py), with the board's flags, so the same C runs CMSIS-NN's pure-C path on the host and its
DSP or Helium path on Cortex-M (chosen by the compiler's ``__ARM_FEATURE_*``).

CMSIS-NN is channels-last: the backend asks convert_layout for NHWC Conv and pooling layers (when
the user gives no --layout), and its Conv/pool kernels take only such layers. It computes TFLite's
integer recipes: bit-exact with aot's golden model in ``--rounding tflite``, and in ``single``
rounding with ``-DCMSIS_NN_USE_SINGLE_ROUNDING`` (CMSIS-NN's arm_nn_requantize then rounds once,
as aot/quant/fixed_point.py's ``requantize``); layers whose recipe has no CMSIS-NN equivalent in
the compile's rounding are declined with the reason, and the next backend runs them."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ...errors import AotError
from ...ir import Graph
from ..build import BackendOption, BuildContribution
from ..registry import REGISTRY, Kernel, TemplateBackend
from .sources import sources_for

HEADER = "arm_nnfunctions.h"
ENV = "CMSIS_NN_PATH"


def cmsis_nn_root(options: dict[str, str]) -> Path:
    """The CMSIS-NN tree of the options, checked: AotError naming what is missing."""
    root = Path(options["path"]).expanduser()
    if not (root / "Include" / HEADER).is_file() or not (root / "Source").is_dir():
        raise AotError(f"backend 'cmsis-nn': '{root}' is not a CMSIS-NN source tree (expected Include/{HEADER} "
                       f"and Source/); give --backend-option cmsis-nn.path=DIR or set {ENV}")
    return root


class CmsisNnBackend(TemplateBackend):
    options = (BackendOption("path", env=ENV, required=True,
                             help="a CMSIS-NN source tree (github ARM-software/CMSIS-NN: Include/, Source/)"),)
    layouts = {"Conv": ["NHWC", "OHWI"], "MaxPool": ["NHWC"], "AveragePool": ["NHWC"]}

    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        return self.model_build_contribution(options, None, self.kernels)

    def model_build_contribution(self, options: dict[str, str], graph: Graph | None,
                                 kernels: Sequence[Kernel]) -> BuildContribution:
        root = cmsis_nn_root(options)
        functions = sorted({k.name for k in kernels})
        missing = [s for s in sources_for(functions) if not (root / "Source" / s).is_file()]
        if missing:
            raise AotError(f"backend 'cmsis-nn': {root} lacks Source/{missing[0]} (a CMSIS-NN of another version?)")
        single = graph is not None and graph.rounding == "single"
        return BuildContribution(external_sources=[root / "Source" / s for s in sources_for(functions)],
                                 external_include_dirs=[root / "Include"], headers=[HEADER],
                                 defines=["CMSIS_NN_USE_SINGLE_ROUNDING"] if single else [],
                                 # CMSIS-NN marks functions __attribute__((optimize(...))) and #pragma GCC
                                 # optimize, which clang does not know: under -Werror they would stop a clang
                                 # build (gcc ignores the unknown -Wno-unknown-attributes).
                                 cflags=["-Wno-unknown-attributes", "-Wno-unknown-pragmas"])


CMSIS_NN = CmsisNnBackend("cmsis-nn")

from . import kernels  # noqa: E402,F401  (adds the kernels to CMSIS_NN)

if CMSIS_NN.name not in REGISTRY.backends:
    REGISTRY.register(CMSIS_NN)
