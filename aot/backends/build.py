"""What a backend adds to the generated build: C sources, include folders, defines, libraries and
flags, and the options (``--backend-option NAME.KEY=VALUE`` or an environment variable) it needs,
such as the location of a CMSIS-NN checkout.

A backend returns a ``BuildContribution`` from ``Backend.build_contribution(options)``. Its files
are of two kinds, kept apart so that a relative path never has two meanings:

- files the backend ships (``sources``, ``include_dirs``: paths relative to ``root``) are copied
  into the library folder under ``<backend>/``, so the folder stays self-contained;
- files of an external location (``external_sources``, ``external_include_dirs``: absolute, or
  relative to the current directory) are referenced in place and never copied; their objects are
  built inside the library folder.

``library_build`` turns the contributions of the backends a model uses into ``LibraryBuild``: the
copied files, the lines the Makefile and CMakeLists.txt need, and the ``build`` record of
metadata.json. Flags apply to the whole library (the host's shared object is one compiler call).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import AotError
from ..ir.names import unique_name

if TYPE_CHECKING:
    from ..targets.board import Board
    from .registry import Backend

# Paths and flags end up unquoted in a Makefile recipe and a shell command: refuse what either
# would split or interpret rather than quote it in two languages.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@~,-]+$")
_SAFE_FLAG = re.compile(r"^[A-Za-z0-9_./+@~,=:-]+$")
_DEFINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(=[A-Za-z0-9_.+-]*)?$")
_LIBRARY_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
_HEADER = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_./+-]*\.h$")
_TARGET_KEY = re.compile(r"^[A-Za-z0-9_.+-]+$")
_OPTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED_FOLDERS = frozenset({"libc"})  # board files (aot/targets/cross.py) go there


@dataclass(frozen=True)
class BackendOption:
    """A setting a backend needs from the user: ``--backend-option <backend>.<name>=VALUE``, else the
    environment variable ``env``, else ``default``; ``required`` options without any is an error."""
    name: str
    env: str | None = None
    required: bool = False
    default: str | None = None
    help: str = ""
    # The values it takes, when they are kernel variants of the same layers (the same results, other
    # costs): aot tune measures each and may choose one per layer.
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _OPTION_NAME.match(self.name):
            raise ValueError(f"backend option name '{self.name}' must be letters, digits, '_' or '-'")


@dataclass(frozen=True)
class BuildContribution:
    """Sources, include folders, defines, libraries and flags a backend adds to the library's build.

    ``target_cflags`` maps a target key to flags used only there: ``"host"`` (the host build),
    ``"board"`` (every cross build), or a board's name, arch (``"arm"``, ``"riscv"``) or cpu
    (``"cortex-m4"``). ``libraries`` are names (``"m"`` links ``-lm``) or paths of library files,
    referenced in place. ``defines`` are ``NAME`` or ``NAME=VALUE``. ``headers`` are included at the
    top of the backend's kernels_<backend>.c (found through the include folders), so its kernels can
    call the functions they declare.
    """
    root: Path | str | None = None  # the backend's own folder of shipped files
    sources: Sequence[str] = ()  # relative to root; copied to <backend>/<path>
    include_dirs: Sequence[str] = ()  # relative to root; every file under them copied to <backend>/<path>
    external_sources: Sequence[Path | str] = ()  # referenced in place, never copied
    external_include_dirs: Sequence[Path | str] = ()
    defines: Sequence[str] = ()
    libraries: Sequence[Path | str] = ()
    cflags: Sequence[str] = ()
    target_cflags: Mapping[str, Sequence[str]] = field(default_factory=dict)
    headers: Sequence[str] = ()

    @property
    def empty(self) -> bool:
        return not (self.sources or self.include_dirs or self.external_sources or self.external_include_dirs
                    or self.defines or self.libraries or self.cflags or any(self.target_cflags.values())
                    or self.headers)


# ---- options ---------------------------------------------------------------------------------

def option_flag(backend: str, option: BackendOption) -> str:
    return f"--backend-option {backend}.{option.name}"


def resolve_options(backend: "Backend", given: Mapping[str, str],
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The backend's option values: given (command line / CompileOptions) first, then the
    environment, then the declared default. Unknown keys and missing required options are errors."""
    environ = os.environ if environ is None else environ
    declared = {o.name: o for o in getattr(backend, "options", ())}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise AotError(f"backend '{backend.name}' has no option {', '.join(map(repr, unknown))} "
                       f"(its options: {known})")
    values: dict[str, str] = {}
    for name, option in declared.items():
        value = given.get(name) or None  # an empty value counts as not given, as in the environment
        if value is None and option.env:
            value = environ.get(option.env) or None
        if value is None:
            value = option.default
        if value is None:
            if option.required:
                env = f" or set the environment variable {option.env}" if option.env else ""
                about = f" ({option.help})" if option.help else ""
                raise AotError(f"backend '{backend.name}' needs option '{name}'{about}: give "
                               f"{option_flag(backend.name, option)}=VALUE{env}")
            continue
        values[name] = value
    return values


def resolve_all_options(backends: Iterable[str], given: Mapping[str, Mapping[str, str]],
                        environ: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Options of every backend in ``backends`` (checked before compiling, used or not, so a
    command line is valid or not independently of the model); options for a backend that is not
    registered are an error, for a registered one not in the list are checked and kept."""
    from .registry import REGISTRY
    unknown = [b for b in given if b not in REGISTRY.names()]
    if unknown:
        raise AotError(f"--backend-option names unknown backend(s) {', '.join(map(repr, unknown))}; registered "
                       f"backends: {', '.join(REGISTRY.names())}")
    names = list(dict.fromkeys([*backends, *given]))
    return {b: resolve_options(REGISTRY.get(b), given.get(b, {}), environ) for b in names}


def check_layer_options(graph) -> None:
    """Per-layer backend options name layers of the graph, declared options, and one of an option's
    ``choices`` where it declares them."""
    from .registry import REGISTRY
    layers = {n.name for n in graph.nodes}
    for layer, per_backend in graph.layer_backend_options.items():
        if layer not in layers:
            raise AotError(f"per-layer backend options name unknown layer '{layer}'; the layers are "
                           f"{sorted(layers)}", model=graph.source or graph.name)
        for backend, values in per_backend.items():
            if backend not in REGISTRY.names():
                raise AotError(f"per-layer backend options of layer '{layer}' name unknown backend '{backend}'",
                               model=graph.source or graph.name)
            declared = {o.name: o for o in getattr(REGISTRY.get(backend), "options", ())}
            for key, value in values.items():
                option = declared.get(key)
                if option is None or (option.choices and value not in option.choices):
                    allowed = (f"one of {', '.join(option.choices)}" if option else
                               f"its options: {', '.join(declared) or 'none'}")
                    raise AotError(f"per-layer option {backend}.{key}={value} of layer '{layer}' is not valid "
                                   f"({allowed})", model=graph.source or graph.name, node=layer)


def parse_backend_option(text: str) -> tuple[str, str, str]:
    """``NAME.KEY=VALUE`` -> (backend, key, value); ValueError says what is wrong."""
    target, sep, value = text.partition("=")
    backend, dot, key = target.rpartition(".")
    if not sep or not dot or not backend or not key:
        raise ValueError(f"expected BACKEND.KEY=VALUE (e.g. cmsis-nn.path=/opt/CMSIS-NN), got '{text}'")
    return backend, key, value


# ---- the library's build ---------------------------------------------------------------------

@dataclass
class ExternalSource:
    source: str  # absolute path, compiled in place
    object: str  # object file inside the library folder


@dataclass
class LibraryBuild:
    """The contributions of the backends a model uses, ready for the build-file templates."""
    files: dict[str, str] = field(default_factory=dict)  # copied files: library path -> text
    sources: list[str] = field(default_factory=list)  # library-relative .c files
    external: list[ExternalSource] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)  # library-relative or absolute
    defines: list[str] = field(default_factory=list)
    cflags: list[str] = field(default_factory=list)
    target_cflags: list[tuple[str, list[str]]] = field(default_factory=list)  # in declaration order
    libraries: list[str] = field(default_factory=list)  # link arguments: -lname or absolute paths
    record: dict[str, dict] = field(default_factory=dict)  # metadata.json "build", per backend
    target_keys: list[str] = field(default_factory=lambda: ["host"])  # of the board compiled for
    headers: dict[str, list[str]] = field(default_factory=dict)  # per backend, for its kernel file

    def __bool__(self) -> bool:
        return bool(self.record)

    @property
    def compile_flags(self) -> list[str]:
        """Flags for every object of the library on every target (per-target ones come after)."""
        return [*(f"-I{d}" for d in self.include_dirs), *(f"-D{d}" for d in self.defines), *self.cflags]


def target_keys(board: "Board | None") -> list[str]:
    """Keys of ``BuildContribution.target_cflags`` that apply to ``board``."""
    if board is None or board.is_host:
        return ["host"]
    return list(dict.fromkeys(["board", board.name, board.arch, board.cpu]))


def link_arguments(build_record: Mapping[str, Mapping]) -> list[str]:
    """Linker arguments for the libraries in metadata.json's ``build`` record (for firmware links)."""
    args: list[str] = []
    for entry in build_record.values():
        args += [_library_argument(lib, "") for lib in entry.get("libraries", [])]
    return list(dict.fromkeys(args))


def library_build(contributions: Mapping[str, BuildContribution], board: "Board | None" = None) -> LibraryBuild:
    """Check and combine contributions (backend name -> contribution, in the order the model uses
    the backends) for a library compiled for ``board`` (None: the host)."""
    build = LibraryBuild(target_keys=target_keys(board))
    objects: set[str] = set()
    for backend, contrib in contributions.items():
        if contrib.empty:
            continue
        where = f"backend '{backend}'"
        shipped_sources, shipped_dirs = _copy_shipped(backend, contrib, build.files, where)
        build.sources += shipped_sources
        build.include_dirs += shipped_dirs
        for path in contrib.external_sources:
            source = _external(path, where, "source", want_dir=False)
            obj = _unique(f"{backend}/external/{Path(source).stem}", objects) + ".o"
            build.external.append(ExternalSource(source, obj))
        build.include_dirs += [_external(p, where, "include folder", want_dir=True)
                               for p in contrib.external_include_dirs]
        for define in contrib.defines:
            if not _DEFINE.match(define):
                raise AotError(f"{where}: define '{define}' is not NAME or NAME=VALUE (value: letters, digits, "
                               f"'_', '.', '+', '-')")
        build.defines += contrib.defines
        build.cflags += [_flag(f, where) for f in contrib.cflags]
        for key, flags in contrib.target_cflags.items():
            if not _TARGET_KEY.match(key):
                raise AotError(f"{where}: target key '{key}' (use host, board, a board name, arch or cpu)")
            build.target_cflags.append((key, [_flag(f, where) for f in flags]))
        build.libraries += [_library_argument(lib, where) for lib in contrib.libraries]
        for header in contrib.headers:
            if not _HEADER.match(header):
                raise AotError(f"{where}: header '{header}' is not a relative .h path")
        build.headers[backend] = list(contrib.headers)
        build.record[backend] = {
            "sources": shipped_sources,
            "include_dirs": shipped_dirs,
            "external_sources": [str(p) for p in contrib.external_sources],
            "external_include_dirs": [str(p) for p in contrib.external_include_dirs],
            "defines": list(contrib.defines),
            "libraries": [str(p) for p in contrib.libraries],
            "cflags": list(contrib.cflags),
            "target_cflags": {k: list(v) for k, v in contrib.target_cflags.items()},
            "headers": list(contrib.headers),
        }
    build.include_dirs = list(dict.fromkeys(build.include_dirs))
    build.defines = list(dict.fromkeys(build.defines))
    build.libraries = list(dict.fromkeys(build.libraries))
    return build


def _copy_shipped(backend: str, contrib: BuildContribution, files: dict[str, str],
                  where: str) -> tuple[list[str], list[str]]:
    if not (contrib.sources or contrib.include_dirs):
        return [], []
    if backend in RESERVED_FOLDERS:
        # Generated files are top-level files or sit in these folders; copies go to <backend>/.
        raise AotError(f"{where}: a backend named '{backend}' cannot ship files (the library folder's "
                       f"'{backend}/' holds generated files)")
    if contrib.root is None:
        raise AotError(f"{where}: shipped sources/include_dirs need the folder they are in (root)")
    root = Path(contrib.root)
    sources, dirs = [], []
    copies: list[tuple[Path, str]] = []
    for rel in contrib.sources:
        path = _inside(root, rel, where, "source", want_dir=False)
        dest = (Path(backend) / rel).as_posix()
        sources.append(dest)
        copies.append((path, dest))
    for rel in contrib.include_dirs:
        folder = _inside(root, rel, where, "include folder", want_dir=True)
        dirs.append((Path(backend) / rel).as_posix())
        # Sorted walk: the copied set, and so the library folder, is the same on every machine.
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            copies.append((path, f"{dirs[-1]}/{path.relative_to(folder).as_posix()}"))
    for path, dest in copies:
        if dest in files:
            continue  # a source inside a shipped include folder
        if not _SAFE_PATH.match(dest):
            raise AotError(f"{where}: file name '{dest}' has characters a Makefile cannot hold")
        try:
            # Bytes decoded as-is (no newline translation): the copy is the backend's file exactly.
            files[dest] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise AotError(f"{where}: '{path}' is not UTF-8 text; link binary files as libraries") from None
    return sources, dirs


def _inside(root: Path, rel: str, where: str, what: str, *, want_dir: bool) -> Path:
    rel_path = Path(rel)
    if rel_path.is_absolute() or ".." in rel_path.parts:
        raise AotError(f"{where}: shipped {what} '{rel}' must be relative to the backend's root {root} "
                       f"(external files go in external_sources/external_include_dirs)")
    path = root / rel_path
    if not want_dir and path.suffix != ".c":
        raise AotError(f"{where}: source '{rel}' is not a .c file")
    if not (path.is_dir() if want_dir else path.is_file()):
        raise AotError(f"{where}: shipped {what} '{rel}' not found in {root}")
    return path


def _external(path: Path | str, where: str, what: str, *, want_dir: bool) -> str:
    full = Path(path).resolve()
    if what == "source" and full.suffix != ".c":
        raise AotError(f"{where}: external source '{path}' is not a .c file")
    if not (full.is_dir() if want_dir else full.is_file()):
        raise AotError(f"{where}: external {what} '{path}' not found")
    if not _SAFE_PATH.match(str(full)):
        raise AotError(f"{where}: external {what} '{full}' has characters (spaces, quotes, '$', ...) a "
                       f"Makefile cannot hold; move it or link it from a plain path")
    return str(full)


def _flag(flag: str, where: str) -> str:
    if not _SAFE_FLAG.match(flag):
        raise AotError(f"{where}: compiler flag '{flag}' must be one word without quotes, spaces or '$'")
    return flag


def _library_argument(lib: Path | str, where: str) -> str:
    text = str(lib)
    if isinstance(lib, Path) or "/" in text:
        return _external(lib, where, "library", want_dir=False)
    if not _LIBRARY_NAME.match(text):
        raise AotError(f"{where}: library '{text}' is neither a name (linked as -l{text}) nor a path")
    return f"-l{text}"


def _unique(stem: str, used: set[str]) -> str:
    return unique_name(stem, used, first_suffix=2)
