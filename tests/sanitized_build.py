"""Building a generated library under AddressSanitizer and UndefinedBehaviorSanitizer and running it in a
small C driver process (an ASan library cannot be loaded into Python without LD_PRELOAD). Shared by
tests/test_sanitizers.py (the real models) and the fuzzer (tests/fuzz_oracle.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from aot.codegen.library_files import api_header

SANITIZE = "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all"
CTYPES = {"float32": "float", "int8": "int8_t", "uint8": "uint8_t", "int32": "int32_t", "int64": "int64_t"}


def _ctype(spec: dict) -> str:
    # metadata.json names each tensor's C type; older callers' specs may only carry the dtype
    return spec.get("ctype") or CTYPES[spec["dtype"]]


def driver_source(meta: dict) -> str:
    """main(in_file, out_file, records): each record is every input's bytes in order; writes every output's."""
    prefix, ins, outs = meta["prefix"], meta["inputs"], meta["outputs"]
    # max(size, 1): a scalar or empty tensor still gets an array C can declare
    decl = [f"static {_ctype(t)} in{i}[{max(t['size'], 1)}];" for i, t in enumerate(ins)]
    decl += [f"static {_ctype(t)} out{i}[{max(t['size'], 1)}];" for i, t in enumerate(outs)]
    reads = "\n".join(f"        if (fread(in{i}, sizeof in{i}, 1, fi) != 1) return 3;" for i in range(len(ins)))
    writes = "\n".join(f"        fwrite(out{i}, sizeof out{i}, 1, fo);" for i in range(len(outs)))
    args = ", ".join([f"in{i}" for i in range(len(ins))] + [f"out{i}" for i in range(len(outs))])
    return f"""#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "{api_header(meta)}"
{chr(10).join(decl)}
int main(int argc, char** argv) {{
    FILE* fi;
    FILE* fo;
    int r, records;
    if (argc != 4) return 2;
    fi = fopen(argv[1], "rb");
    fo = fopen(argv[2], "wb");
    if (!fi || !fo) return 2;
    records = atoi(argv[3]);
    for (r = 0; r < records; ++r) {{
{reads}
        if ({prefix}_run({args}) != 0) return 4;
{writes}
    }}
    fclose(fi);
    fclose(fo);
    return 0;
}}
"""


def build_sanitized(lib_dir: Path, meta: dict, cc: str, flags: str = SANITIZE, timeout: float | None = None) -> Path:
    """The library built with the generated Makefile under ``flags`` and linked into the driver."""
    prefix = meta["prefix"]
    make = subprocess.run(["make", "-s", "-C", str(lib_dir), f"lib{prefix}.a", f"CC={cc}", f"CFLAGS={flags}", "AOT_WERROR=1"],
                          capture_output=True, text=True, timeout=timeout)
    assert make.returncode == 0, make.stdout + make.stderr
    (lib_dir / "driver.c").write_text(driver_source(meta))
    exe = lib_dir / "driver"
    link = subprocess.run([cc, "-std=c99", *flags.split(), "-I", str(lib_dir), str(lib_dir / "driver.c"),
                           str(lib_dir / f"lib{prefix}.a"), "-lm", "-o", str(exe)], capture_output=True, text=True,
                          timeout=timeout)
    assert link.returncode == 0, link.stdout + link.stderr
    return exe
