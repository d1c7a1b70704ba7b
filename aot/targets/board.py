"""Board definitions: ``boards/<name>/board.toml`` shipped with aot, plus board folders of the user's
(``--board-dir``). A board names its CPU flags and toolchain, its memory, how QEMU runs it and the
startup code and linker script of the test firmware. ``boards/README.md`` documents the keys."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from ..errors import AotError
from ..resources import boards_dir

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

INSTALL_HINT = "run boards/install-toolchains.sh (Debian) to install the cross toolchains and QEMU"


@dataclass(frozen=True)
class Region:
    origin: int
    size: int


@dataclass
class Board:
    name: str
    folder: Path
    description: str
    arch: str  # "host", "arm" or "riscv"
    cpu: str
    cc: str
    cflags: list[str]
    ar: str = "ar"
    size_tool: str = "size"
    gcc_cflags: list[str] = field(default_factory=list)
    clang_target: str | None = None
    clang_cflags: list[str] = field(default_factory=list)
    libc: str = "host"  # "newlib", "none" (aot's freestanding subset) or "host"
    packages: list[str] = field(default_factory=list)
    flash: Region | None = None
    ram: Region | None = None
    code: Region | None = None  # a separate region for code (else code shares flash)
    # memory.weights_region: where the firmware places the weights (external flash such as "qspi", through
    # <PREFIX>_WEIGHTS_SECTION or --weights-file bin), so the fit check counts them there, not in flash
    weights_region: Region | None = None
    weights_region_name: str | None = None
    stack_bytes: int = 16384
    code_reserve: int = 65536
    machine: str | None = None
    qemu_command: list[str] = field(default_factory=list)
    qemu_packages: list[str] = field(default_factory=list)
    counter: str | None = None
    instructions_per_tick: float = 1.0
    linker_script: Path | None = None
    sources: list[Path] = field(default_factory=list)
    include_dirs: list[Path] = field(default_factory=list)
    # Instruction-set extensions of the core that kernels may use ("dsp": the Arm DSP extension,
    # "mve": Helium); a backend needing one is offered only on boards that have it.
    features: list[str] = field(default_factory=list)
    # Backends in order of preference when the user names none (None: derived from the features,
    # aot.compiler.resolve_backends).
    backends: list[str] | None = None

    @property
    def is_host(self) -> bool:
        return self.arch == "host"

    def compile_flags(self, cc_kind: str) -> list[str]:
        """CPU and target flags for the board's gcc (``cc_kind == "gcc"``) or for clang."""
        if cc_kind == "clang":
            if not self.clang_target:
                raise AotError(f"board '{self.name}' has no clang_target; build it with gcc")
            return [f"--target={self.clang_target}", *self.cflags, *self.clang_cflags]
        return [*self.cflags, *self.gcc_cflags]

    def compiler(self, cc_kind: str) -> str:
        return "clang" if cc_kind == "clang" else self.cc

    def tools(self, cc_kind: str = "gcc", qemu: bool = True) -> list[str]:
        """Executables building (and, with ``qemu``, running) firmware for this board needs."""
        if self.is_host:
            return [self.cc]
        tools = [self.cc, self.ar, self.size_tool, "make"]
        if cc_kind == "clang":
            tools += ["clang", "ld.lld"]
        if qemu and self.qemu_command:
            tools.append(self.qemu_command[0])
        return list(dict.fromkeys(tools))

    def missing_tools(self, cc_kind: str = "gcc", qemu: bool = True) -> list[str]:
        return [t for t in self.tools(cc_kind, qemu) if shutil.which(t) is None]

    def require_tools(self, cc_kind: str = "gcc", qemu: bool = True) -> None:
        missing = self.missing_tools(cc_kind, qemu)
        if missing:
            packages = " ".join(dict.fromkeys(self.packages + self.qemu_packages))
            raise AotError(f"board '{self.name}' needs {', '.join(missing)}, which "
                           f"{'is' if len(missing) == 1 else 'are'} not installed; {INSTALL_HINT} "
                           f"(packages: {packages or 'see boards/README.md'})")


def _region(value: object, where: str) -> Region | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not {"origin", "size"} <= set(value):
        raise AotError(f"{where}: a memory region needs origin and size, e.g. {{ origin = 0x20000000, size = 0x400000 }}")
    return Region(int(value["origin"]), int(value["size"]))


def _weights_region(value: object, where: str) -> dict:
    """``weights_region = { name = "qspi", origin = 0x90000000, size = 0x800000 }``: Board fields."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"] \
            or value["name"] in ("RAM", "flash", "code"):
        raise AotError(f"{where}: needs a name other than RAM, flash or code, an origin and a size, e.g. "
                       f'{{ name = "qspi", origin = 0x90000000, size = 0x800000 }}')
    return {"weights_region": _region({k: v for k, v in value.items() if k != "name"}, where),
            "weights_region_name": value["name"]}


def _find_file(relative: str, folder: Path, where: str) -> Path:
    """Firmware files are looked up in the board's folder, then in aot's boards folder (so a user's
    board can reuse ``common/arm/startup.c``)."""
    for base in (folder, boards_dir()):
        path = base / relative
        if path.exists():
            return path.resolve()
    raise AotError(f"{where}: file '{relative}' not found in {folder} or {boards_dir()}")


def load_board(folder: str | Path) -> Board:
    """The board described by ``folder/board.toml``."""
    folder = Path(folder)
    path = folder / "board.toml"
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise AotError(f"cannot read board file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AotError(f"{path}: {exc}") from None
    for key in ("name", "description"):
        if key not in data:
            raise AotError(f"{path}: missing key '{key}'")
    arch = data.get("arch", "host")
    if arch not in ("host", "arm", "riscv"):
        raise AotError(f"{path}: arch '{arch}' is not one of host, arm, riscv")
    if arch == "host" and data.get("features") == "detect":
        isa = {"features": detect_host_features(data.get("cc", "cc")), "backends": _names(data, "backends", path)}
    else:
        isa = {"features": _names(data, "features", path) or [], "backends": _names(data, "backends", path)}
    if arch == "host":
        return Board(name=data["name"], folder=folder, description=data["description"], arch="host",
                     cpu=data.get("cpu", "host"), cc=data.get("cc", "cc"), cflags=list(data.get("cflags", [])), **isa)
    tool, mem, qemu, fw = (data.get(k, {}) for k in ("toolchain", "memory", "qemu", "firmware"))
    missing = [k for k, sect in (("toolchain.cc", tool.get("cc")), ("memory.flash", mem.get("flash")),
                                  ("memory.ram", mem.get("ram")), ("firmware.linker_script", fw.get("linker_script")))
               if sect is None]
    if missing:
        raise AotError(f"{path}: missing key(s) {', '.join(missing)} (see boards/README.md)")
    libc = tool.get("libc", "newlib")
    if libc not in ("newlib", "none"):
        raise AotError(f"{path}: toolchain.libc '{libc}' is not one of newlib, none")
    return Board(
        name=data["name"], folder=folder, description=data["description"], arch=arch, cpu=data.get("cpu", arch),
        cc=tool["cc"], cflags=list(tool.get("cflags", [])), ar=tool.get("ar", "ar"), size_tool=tool.get("size", "size"),
        gcc_cflags=list(tool.get("gcc_cflags", [])), clang_target=tool.get("clang_target"),
        clang_cflags=list(tool.get("clang_cflags", [])), libc=libc, packages=list(tool.get("packages", [])),
        flash=_region(mem.get("flash"), f"{path} [memory] flash"), ram=_region(mem.get("ram"), f"{path} [memory] ram"),
        code=_region(mem.get("code"), f"{path} [memory] code"), stack_bytes=int(mem.get("stack", 16384)),
        **_weights_region(mem.get("weights_region"), f"{path} [memory] weights_region"),
        code_reserve=int(mem.get("code_reserve", 65536)), machine=qemu.get("machine"),
        qemu_command=[str(a) for a in qemu.get("command", [])], qemu_packages=list(qemu.get("packages", [])),
        counter=qemu.get("counter"), instructions_per_tick=float(qemu.get("instructions_per_tick", 1)),
        linker_script=_find_file(fw["linker_script"], folder, str(path)),
        sources=[_find_file(s, folder, str(path)) for s in fw.get("sources", [])],
        include_dirs=[_find_file(s, folder, str(path)) for s in fw.get("include_dirs", [])], **isa,
    )


# Instruction-set features of an x86 host as board.toml names them, by the macro the C compiler
# defines when -march=native enables them.
X86_FEATURE_MACROS = {"sse4.1": "__SSE4_1__", "avx2": "__AVX2__", "fma": "__FMA__",
                      "avx512f": "__AVX512F__", "avx512bw": "__AVX512BW__", "avx512vnni": "__AVX512VNNI__",
                      "avxvnni": "__AVXVNNI__"}


@lru_cache(maxsize=None)
def detect_host_features(cc: str = "cc") -> list[str]:
    """The features (board.toml names) of the machine aot runs on: what ``cc -march=native`` enables.
    None found (another architecture, or no compiler) is an empty list: the portable kernels run."""
    try:
        proc = subprocess.run([cc, "-march=native", "-dM", "-E", "-x", "c", os.devnull],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    defined = set(re.findall(r"^#define (\w+)", proc.stdout, re.M)) if proc.returncode == 0 else set()
    return [name for name, macro in X86_FEATURE_MACROS.items() if macro in defined]


def _names(data: dict, key: str, path: Path) -> list[str] | None:
    """A top-level list of strings (``features``, ``backends``), or None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        example = '["dsp", "mve"]' if key == "features" else '["arm-dsp", "ref"]'
        detect = ' (or, for a host board, "detect")' if key == "features" else ""
        raise AotError(f"{path}: '{key}' must be a list of names{detect}, e.g. {key} = {example}")
    return list(value)


def _board_folders(extra_dirs: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Board name -> folder; a ``--board-dir`` is one board folder or a folder of them, and wins over
    a built-in board of the same name."""
    found: dict[str, Path] = {}
    arch: dict[str, str] = {}
    for base in [boards_dir(), *map(Path, extra_dirs)]:
        if not base.is_dir():
            raise AotError(f"board folder '{base}' does not exist")
        candidates = [base] if (base / "board.toml").exists() else sorted(p for p in base.iterdir() if p.is_dir())
        for folder in candidates:
            if (folder / "board.toml").exists():
                try:
                    data = tomllib.loads((folder / "board.toml").read_text())
                except tomllib.TOMLDecodeError as exc:
                    raise AotError(f"{folder / 'board.toml'}: {exc}") from None
                found[data.get("name", folder.name)] = folder
                arch[data.get("name", folder.name)] = data.get("arch", "host")
    # host first, then the other host boards, then by name with numbers in order (cortex-m4 before cortex-m33)
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != "host", arch[kv[0]] != "host", _natural(kv[0]))))


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def board_names(extra_dirs: Iterable[str | Path] = ()) -> list[str]:
    return list(_board_folders(extra_dirs))


def list_boards(extra_dirs: Iterable[str | Path] = ()) -> list[Board]:
    return [load_board(folder) for folder in _board_folders(extra_dirs).values()]


def resolve_board(name: str | Path, extra_dirs: Iterable[str | Path] = ()) -> Board:
    """A board by name (built-in or from ``extra_dirs``), or by the path of its folder."""
    folders = _board_folders(extra_dirs)
    if str(name) in folders:
        return load_board(folders[str(name)])
    if Path(name).is_dir() and (Path(name) / "board.toml").exists():
        return load_board(Path(name))
    raise AotError(f"unknown board '{name}'; the boards are {', '.join(folders)} "
                   f"(or pass --board-dir with a folder holding a board.toml)")


def format_bytes(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % (size // 4) == 0:
            return f"{n / size:g} {unit}"
    return f"{n:,} B"
