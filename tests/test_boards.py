"""Board definitions, cross builds and the firmware machinery (issue 4 items 1, 2, 5, 7).

The board files agree with their linker scripts; ``aot compile --board`` emits a board.mk whose
``make`` cross-compiles the library with the board's gcc and with clang (-Werror, the right CPU in
the objects); a user's board folder works like a built-in one; a model too big for a board fails at
compile time with the figures; the freestanding libm of the riscv32 board is accurate; and on QEMU
the instruction counter's scale is right, and faults, time-outs and exit statuses come back as
errors. Tools missing is a failure with the install hint, not a skip (CI installs them)."""
from __future__ import annotations

import argparse
import ctypes
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.cli.board import add_board_commands
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.resources import boards_dir
from aot.targets.board import Board, list_boards, resolve_board
from aot.targets.cross import build_library, link_firmware
from aot.flows.board_run import BoardRunError, check_run
from aot.targets.fit import weight_bytes
from aot.targets.host import build_shared
from aot.targets.qemu import run_qemu

from conftest import REPO, make_model

BOARDS = ["cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "riscv32"]
ARM_ARCH = {"cortex-m3": "v7", "cortex-m4": "v7E-M", "cortex-m7": "v7E-M", "cortex-m33": "v8-M.mainline",
            "cortex-m55": "v8.1-M.mainline"}
FREESTANDING = REPO / "boards" / "common" / "freestanding"


def board_with_tools(name: str, cc: str = "gcc", qemu: bool = True) -> Board:
    """The board, failing (not skipping) with the install hint when its tools are missing."""
    board = resolve_board(name)
    missing = board.missing_tools(cc, qemu)
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    return board


# -- board files -------------------------------------------------------------------------------------
def test_builtin_boards_are_listed_in_order():
    assert [b.name for b in list_boards()] == ["host", "host-avx2", "host-sse4", "native"] + BOARDS


@pytest.mark.parametrize("name", BOARDS)
def test_board_files_are_complete(name):
    board = resolve_board(name)
    assert board.folder.name == name and board.arch in ("arm", "riscv")
    assert board.linker_script.exists() and all(s.exists() for s in board.sources)
    assert board.flash.size > 0 and board.ram.size > 0 and board.stack_bytes > 0
    assert board.qemu_command and "{elf}" in board.qemu_command and "-icount" in board.qemu_command
    assert board.counter in ("systick", "minstret") and board.instructions_per_tick > 0


def linker_regions(path: Path) -> dict[str, tuple[int, int]]:
    pattern = r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*LENGTH\s*=\s*(0x[0-9a-fA-F]+|\d+)"
    return {m[0]: (int(m[1], 0), int(m[2], 0)) for m in re.findall(pattern, path.read_text())}


@pytest.mark.parametrize("name", BOARDS)
def test_linker_script_matches_board_toml(name):
    board = resolve_board(name)
    regions = linker_regions(board.linker_script)
    expected = {"FLASH": board.flash, "RAM": board.ram} | ({"CODE": board.code} if board.code else {})
    assert regions == {k: (r.origin, r.size) for k, r in expected.items()}


def test_host_board_keeps_its_keys():
    data = tomllib.loads((REPO / "boards" / "host" / "board.toml").read_text())
    assert {"name", "description", "cc", "cflags"} <= set(data)
    host = resolve_board("host")
    assert host.is_host and host.cc == data["cc"] and host.cflags == data["cflags"]


def test_unknown_board_names_the_known_ones(tiny_cnn_path):
    with pytest.raises(AotError, match="unknown board 'cortex-m99'.*cortex-m4.*riscv32"):
        compile_model(tiny_cnn_path, CompileOptions(board="cortex-m99"))


def test_install_script_covers_every_board_package():
    script = (REPO / "boards" / "install-toolchains.sh").read_text()
    assert subprocess.run(["bash", "-n", str(REPO / "boards" / "install-toolchains.sh")]).returncode == 0
    for board in list_boards():
        for package in board.packages + board.qemu_packages:
            assert re.search(rf"\b{re.escape(package)}\b", script), f"{package} ({board.name}) not installed by the script"
    assert "clang lld" in script


# -- user boards -------------------------------------------------------------------------------------
def user_board(tmp_path: Path) -> Path:
    """A board folder of the user's: the cortex-m4 definition renamed, with its own linker script
    that reuses aot's common startup code and section layout."""
    folder = tmp_path / "myboards" / "my-m4"
    folder.mkdir(parents=True)
    text = (boards_dir() / "cortex-m4" / "board.toml").read_text()
    (folder / "board.toml").write_text(text.replace('name = "cortex-m4"', 'name = "my-m4"'))
    shutil.copy(boards_dir() / "cortex-m4" / "link.ld", folder / "link.ld")
    return folder


def test_user_board_dir_is_listed_and_compiles(tmp_path, tiny_cnn_path, capsys):
    folder = user_board(tmp_path)
    for where in (folder, folder.parent):  # one board folder, or a folder of board folders
        assert "my-m4" in [b.name for b in list_boards([where])]
    board = resolve_board("my-m4", [folder.parent])
    assert board.folder == folder and board.sources[0].is_relative_to(boards_dir())
    compiled = compile_model(tiny_cnn_path, CompileOptions(board="my-m4", board_dirs=[str(folder.parent)]))
    assert "AOT_BOARD := my-m4" in compiled.files["board.mk"]
    parser = argparse.ArgumentParser()
    add_board_commands(parser.add_subparsers())
    args = parser.parse_args(["boards", "--board-dir", str(folder.parent)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^my-m4\s+cortex-m4\s+mps2-an386\s+4 MiB\s+4 MiB\s+ok", out, re.M), out
    assert re.search(r"^cortex-m55\s+cortex-m55\s+mps3-an547\s+8 MiB \+ 512 KiB code\s+4 MiB", out, re.M), out


# -- cross builds --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("name", BOARDS)
def test_board_mk_cross_compiles_the_library(name, cc, tiny_cnn_path, tmp_path):
    board = board_with_tools(name, cc, qemu=False)
    lib = write_library(compile_model(tiny_cnn_path, CompileOptions(board=name)), tmp_path / "lib")
    assert (lib / "board.mk").exists() and (lib / "libc" / "math.h").exists() == (board.libc == "none")
    archive = build_library(lib, board, cc, "-O2")
    members = subprocess.run([board.ar, "t", str(archive)], capture_output=True, text=True, check=True).stdout.split()
    used = {layer["backend"] for layer in json.loads((lib / "metadata.json").read_text())["layers"]}
    assert "model.o" in members and all(f"kernels_{b}.o" in members for b in used), (members, used)
    if board.arch == "arm":
        attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(lib / "model.o")], capture_output=True,
                               text=True, check=True).stdout
        assert f"Tag_CPU_arch: {ARM_ARCH[name]}\n" in attrs, attrs
        assert ("VFP registers" in attrs) == ("-mfloat-abi=hard" in board.cflags), attrs
        if name == "cortex-m55":
            assert "MVE" in attrs, attrs
    else:
        header = subprocess.run(["readelf", "-h", str(lib / "model.o")], capture_output=True, text=True,
                                check=True).stdout
        assert "ELF32" in header and "RISC-V" in header, header
    # A library of portable kernels for the board still builds the host shared object in the same
    # folder (board flags apply to the .a objects only; instruction-set kernels need their board).
    portable = write_library(compile_model(tiny_cnn_path, CompileOptions(board=name, backends=["ref"])),
                             tmp_path / "portable")
    build_library(portable, board, cc, "-O2")
    assert build_shared(portable, "gcc", "-O1").exists()


def test_board_mk_build_is_warning_clean_under_werror(tiny_cnn_path, tmp_path):
    """-Werror is in force for board builds: a warning in a kernel would stop make."""
    board = board_with_tools("cortex-m4", qemu=False)
    lib = write_library(compile_model(tiny_cnn_path, CompileOptions(board="cortex-m4")), tmp_path / "lib")
    (lib / "kernels_ref.c").write_text((lib / "kernels_ref.c").read_text() + "\nstatic int unused_thing;\n")
    with pytest.raises(AotError, match="unused_thing"):
        build_library(lib, board, "gcc")


# -- fit ---------------------------------------------------------------------------------------------
def big_weights_model() -> onnx.ModelProto:
    w = np.ones((1024, 1100), np.float32)  # 4.5 MB of weights: more than the 4 MiB of flash
    nodes = [helper.make_node("MatMul", ["x", "w_big"], ["y"], name="fc")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1100])], {"w_big": w},
                      name="big_weights")


def big_arena_model() -> onnx.ModelProto:
    shape = [1, 1100000]  # a 4.4 MB intermediate tensor: more than the 4 MiB of RAM
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu1"),
             helper.make_node("Sigmoid", ["h"], ["y"], name="sig")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], name="big_arena")


def test_model_too_big_for_flash_fails_at_compile_time():
    with pytest.raises(AotError) as err:
        compile_model(big_weights_model(), CompileOptions(board="cortex-m4"))
    text = str(err.value)
    assert "does not fit board 'cortex-m4'" in text
    needed = 1024 * 1100 * 4 + 65536
    assert f"flash: needs at least {needed:,} B" in text and "has 4,194,304 B" in text
    assert re.search(r"largest weights: w_big 4,505,600 B", text), text


def test_model_too_big_for_ram_fails_at_compile_time():
    with pytest.raises(AotError) as err:
        compile_model(big_arena_model(), CompileOptions(board="riscv32"))
    text = str(err.value)
    assert "RAM: needs at least" in text and "stack 16,384 B" in text and "has 4,194,304 B" in text
    assert "largest arena buffers: h 4,400,000 B" in text, text


def test_fit_check_counts_the_weights_the_library_holds(tiny_cnn_path, shared_model):
    for source in (tiny_cnn_path, shared_model("mlperf_tiny/kws_ref_model_int8.onnx")):
        compiled = compile_model(source)
        assert sum(weight_bytes(compiled.graph, compiled.calls, compiled.plan).values()) == \
            compiled.metadata["memory"]["weights_bytes"]


# -- freestanding libc of the riscv32 board -----------------------------------------------------------
@pytest.fixture(scope="module")
def freestanding_lib(tmp_path_factory) -> ctypes.CDLL:
    """aot_libc.c built for the host against its own headers only, so it is what riscv32 runs."""
    gcc_include = subprocess.run(["gcc", "-print-file-name=include"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    out = tmp_path_factory.mktemp("libc") / "libaot_libc.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffreestanding", "-fno-builtin",
                    "-ffp-contract=off", "-nostdinc", "-isystem", str(FREESTANDING), "-isystem", gcc_include,
                    "-fPIC", "-shared", str(FREESTANDING / "aot_libc.c"), "-o", str(out)], check=True)
    return ctypes.CDLL(str(out))


def float_fn(lib: ctypes.CDLL, name: str):
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda xs: np.array([fn(float(x)) for x in xs], np.float32)


def ulps(got: np.ndarray, ref: np.ndarray) -> float:
    with np.errstate(over="ignore"):
        ref32 = ref.astype(np.float32)
    finite = np.isfinite(ref32)
    assert np.array_equal(got[~finite], ref32[~finite], equal_nan=True)
    return float(np.max(np.abs(got[finite].astype(np.float64) - ref32[finite]) /
                        np.spacing(np.abs(ref32[finite])), initial=0.0))


@pytest.mark.parametrize("name, ref, lo, hi, max_ulp", [
    ("expf", np.exp, -104.0, 89.0, 2), ("expm1f", np.expm1, -20.0, 20.0, 2), ("tanhf", np.tanh, -12.0, 12.0, 2),
    ("logf", np.log, -40.0, 38.0, 2), ("sqrtf", np.sqrt, -40.0, 38.0, 0)])
def test_freestanding_math_accuracy(freestanding_lib, name, ref, lo, hi, max_ulp):
    rng = np.random.default_rng(1)
    if name in ("logf", "sqrtf"):  # positive arguments over the float range, subnormals included
        xs = np.concatenate([10.0 ** rng.uniform(lo, hi, 4000), rng.uniform(0.5, 2.0, 2000), [1e-45, 1e-40, 1.0, 0.0,
                             -1.0, np.inf, np.nan]])
    else:
        xs = np.concatenate([rng.uniform(lo, hi, 4000), rng.standard_normal(2000) * 1e-3, [0.0, -0.0, np.inf, -np.inf, np.nan]])
    xs = xs.astype(np.float32)
    with np.errstate(all="ignore"):
        expected = ref(xs.astype(np.float64))
    assert ulps(float_fn(freestanding_lib, name)(xs), expected) <= max_ulp


@pytest.mark.parametrize("name, ref", [("rintf", np.rint), ("floorf", np.floor), ("ceilf", np.ceil),
                                       ("truncf", np.trunc), ("roundf", lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5))])
def test_freestanding_rounding_is_exact(freestanding_lib, name, ref):
    rng = np.random.default_rng(2)
    xs = np.concatenate([rng.uniform(-100, 100, 3000), np.arange(-4, 4, 0.5), [1e10, -0.3, 8388607.5, -8388607.5,
                         np.inf, np.nan]]).astype(np.float32)
    with np.errstate(invalid="ignore"):
        expected = ref(xs.astype(np.float64))
    assert ulps(float_fn(freestanding_lib, name)(xs), expected) == 0


def test_freestanding_memory_functions(freestanding_lib):
    lib = freestanding_lib
    for fn in (lib.memcpy, lib.memmove, lib.memcmp):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    lib.memcpy.restype = lib.memmove.restype = lib.memset.restype = ctypes.c_void_p
    lib.memcmp.restype = ctypes.c_int
    rng = np.random.default_rng(3)
    for n in (0, 1, 3, 4, 7, 64, 101):
        for shift in (0, 1, 3):
            src = rng.integers(0, 256, 128, dtype=np.uint8)
            dst = np.zeros(128, np.uint8)
            lib.memcpy(dst.ctypes.data + shift, src.ctypes.data + 1, ctypes.c_size_t(n))
            assert np.array_equal(dst[shift:shift + n], src[1:1 + n]) and not dst[shift + n:].any()
            buf = src.copy()  # overlapping moves, both directions
            lib.memmove(buf.ctypes.data + shift, buf.ctypes.data + 2, ctypes.c_size_t(n))
            assert np.array_equal(buf[shift:shift + n], src[2:2 + n])
            lib.memset(dst.ctypes.data + shift, ctypes.c_int(0x1A5), ctypes.c_size_t(n))
            assert (dst[shift:shift + n] == 0xA5).all()
            a, b = src.copy(), src.copy()
            if n:
                b[n - 1] ^= 1
            assert (lib.memcmp(a.ctypes.data, b.ctypes.data, ctypes.c_size_t(n)) == 0) == (n == 0)


# -- firmware machinery on QEMU -------------------------------------------------------------------------
LOOP = {"arm": "1: subs %0, %0, #1\n bne 1b", "riscv": "1: addi %0, %0, -1\n bnez %0, 1b"}


def firmware(board: Board, tmp_path: Path, body: str, stack: int | None = None) -> Path:
    src = tmp_path / "probe.c"
    src.write_text('#include <stdint.h>\n#include "aot_board.h"\n' + body)
    return link_firmware(board, "gcc", [src, *board.sources], None, board.include_dirs, tmp_path / "probe.elf",
                         ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror"], stack or board.stack_bytes)


COUNT_LOOP = """
static uint64_t count(uint32_t n) {
    uint64_t t0, t1;
    t0 = aot_board_counter();
    __asm__ volatile(LOOP_ASM : "+r"(n) : : "cc");
    t1 = aot_board_counter();
    return t1 - t0;
}
int main(void) {
    char text[24];
    aot_board_counter_start();
    aot_board_utoa(text, count(100000u)); aot_board_write("@aot small "); aot_board_write(text);
    aot_board_utoa(text, count(300000u)); aot_board_write("\\n@aot large "); aot_board_write(text);
    aot_board_write("\\n@aot end\\n");
    return 0;
}
"""


@pytest.mark.parametrize("name", BOARDS)
def test_counter_scale_matches_instructions(name, tmp_path):
    """200,000 extra loop iterations of 2 instructions read as 400,000 instructions (to the
    counter's resolution), twice the same: instructions_per_tick is right and runs repeat exactly."""
    board = board_with_tools(name)
    loop = LOOP[board.arch].replace("\n", "\\n")
    elf = firmware(board, tmp_path, f'#define LOOP_ASM "{loop}"\n' + COUNT_LOOP)
    runs = [run_qemu(board, elf, timeout=30) for _ in range(2)]
    for run in runs:
        check_run(run, board, 30)
    assert runs[0].records == runs[1].records
    small, large = int(runs[0].value("small")), int(runs[0].value("large"))
    measured = (large - small) * board.instructions_per_tick
    assert abs(measured - 400000) <= 2 * board.instructions_per_tick, (small, large)


MEMORY_PROBE = """
static int writable(uint32_t address) {
    volatile uint32_t* p = (volatile uint32_t*)(uintptr_t)address;
    const uint32_t old = *p;
    *p = 0x5EED1234u;
    return *p == 0x5EED1234u && (*p = old, 1);
}
int main(void) {
    aot_board_write(writable(RAM_LAST) ? "@aot ram writable\\n" : "@aot ram readonly\\n");
    aot_board_write(writable(FLASH_LAST) ? "@aot flash writable\\n" : "@aot flash readonly\\n");
    aot_board_write(writable(CODE_LAST) ? "@aot code writable\\n" : "@aot code readonly\\n");
    aot_board_write("@aot end\\n");
    return 0;
}
"""


@pytest.mark.parametrize("name", BOARDS)
def test_memory_regions_are_there(name, tmp_path):
    """The last word of each region of board.toml is memory on the emulated machine (an unmapped
    address faults or reads as 0 there): RAM takes writes, flash does too on QEMU except the
    Cortex-M55's QSPI, which is ROM."""
    board = board_with_tools(name)
    code = board.code or board.flash
    defines = {"RAM_LAST": board.ram.origin + board.ram.size - 4, "FLASH_LAST": board.flash.origin + board.flash.size - 4,
               "CODE_LAST": code.origin + code.size - 4}
    body = "".join(f"#define {k} {v:#x}u\n" for k, v in defines.items()) + MEMORY_PROBE
    run = run_qemu(board, firmware(board, tmp_path, body), timeout=30)
    check_run(run, board, 30)
    assert run.value("ram") == "writable" and run.value("code") == "writable"
    assert run.value("flash") == ("readonly" if name == "cortex-m55" else "writable")


@pytest.mark.parametrize("name, undefined, fault", [("cortex-m4", ".short 0xde00", "UsageFault"),
                                                    ("cortex-m33", ".short 0xde00", "UsageFault"),
                                                    ("riscv32", ".word 0", "illegal instruction")])
def test_fault_is_reported_with_status_4(name, undefined, fault, tmp_path):
    board = board_with_tools(name)
    elf = firmware(board, tmp_path, f'int main(void) {{ __asm__ volatile("{undefined}"); return 0; }}\n')
    run = run_qemu(board, elf, timeout=30)
    with pytest.raises(BoardRunError, match=f"faulted on {name}: {fault} pc=0x") as err:
        check_run(run, board, 30)
    assert run.status == err.value.status == 4


def test_time_out_is_reported_with_status_124(tmp_path):
    board = board_with_tools("cortex-m4")
    elf = firmware(board, tmp_path, "int main(void) { for (;;) { __asm__ volatile(\"\"); } }\n")
    run = run_qemu(board, elf, timeout=1.0)
    assert run.timed_out
    with pytest.raises(BoardRunError, match="did not finish within 1 s") as err:
        check_run(run, board, 1.0)
    assert err.value.status == 124


def test_firmware_exit_status_comes_through(tmp_path):
    board = board_with_tools("riscv32")
    elf = firmware(board, tmp_path, "int main(void) { return 42; }\n")
    run = run_qemu(board, elf, timeout=30)
    assert run.status == 42
    with pytest.raises(BoardRunError, match="QEMU exited with status 42") as err:
        check_run(run, board, 30)
    assert err.value.status == 42
