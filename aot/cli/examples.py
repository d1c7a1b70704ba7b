"""One or two example command lines ending each subcommand's ``--help`` (added to every subparser
in one place, so the subcommands' own modules stay as they are)."""
from __future__ import annotations

import argparse

EXAMPLES: dict[str, list[str]] = {
    "compile": ["aot compile kws.onnx -o out/kws --board cortex-m4",
                "aot compile model.onnx -o out/model --quantize int8 --calib calib.npz"],
    "quantize": ["aot quantize model.onnx -o int8/model.onnx --calib calib.npz",
                 "aot quantize model.onnx -o int8/model.onnx --calib calib.npz --keep-float conv1 --sensitivity"],
    "verify": ["aot verify kws.onnx --input sample.npz",
               "aot verify model.onnx --input x=x.npy --input mask=mask.npy --cc clang --opt \"-O2 -g\""],
    "inspect": ["aot inspect model.onnx",
                "aot inspect model.onnx --board cortex-m4 --count Conv"],
    "demo": ["aot demo",
             "aot demo --out demo_lib --cc clang"],
    "run": ["aot run kws.onnx --board cortex-m4 --profile",
            "aot run kws.onnx --board cortex-m4 --input sample.npy --cc clang --opt \"-Os -g\""],
    "boards": ["aot boards",
               "aot boards --board-dir my_boards"],
    "ops": ["aot ops",
            "aot ops --backend arm-dsp"],
    "tune": ["aot tune kws.onnx --board cortex-m4 --db tune.db -j 2",
             "aot compile kws.onnx --board cortex-m4 --tuning-db tune.db -o out/kws"],
}


def add_examples(subparsers: argparse._SubParsersAction) -> None:
    """Append each subcommand's examples to its epilog (after what the epilog says already)."""
    for command, parser in subparsers.choices.items():
        lines = EXAMPLES.get(command)
        if not lines:
            continue
        examples = "examples:\n" + "\n".join(f"  {line}" for line in lines)
        parser.epilog = f"{parser.epilog}\n\n{examples}" if parser.epilog else examples
