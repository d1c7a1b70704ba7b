"""Packages for firmware build systems (``aot compile --package``): files added to the library folder
so it drops into CMake (install()/export and a package config), Zephyr (a module), Arduino (a library)
or PlatformIO (a library.json). Each package builds the folder's own sources in place; nothing is
copied. Generated text holds no timestamps and no paths of this machine, except the absolute paths of
a backend's external sources (CMSIS-NN), which the CMake-based packages compile where they are and
the Arduino and PlatformIO ones refuse (their libraries cannot reach outside their folder)."""
from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import AotError
from .env import c_comment_text, make_environment
from .library_files import api_header

if TYPE_CHECKING:
    from ..backends.build import LibraryBuild

PACKAGES = ("cmake", "zephyr", "arduino", "platformio")
_TITLES = {"arduino": "an Arduino", "platformio": "a PlatformIO"}
# Files of the folder no package compiles: the host/board build files and the freestanding libc
# subset (firmware build systems bring their own C library).
_BUILD_ONLY_PREFIXES = ("libc/",)


def check_packages(packages: list[str]) -> list[str]:
    """``packages`` without repeats, in the order given; an unknown name is an error."""
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        raise AotError(f"unknown --package '{unknown[0]}'; the packages are {', '.join(PACKAGES)}")
    return list(dict.fromkeys(packages))


def package_files(files: dict[str, str], prefix: str, packages: list[str], build: "LibraryBuild",
                  model: str = "") -> dict[str, str]:
    """The files the ``packages`` add, and CMakeLists.txt extended when "cmake" is asked for."""
    packages = check_packages(packages)
    lib = _LibraryFiles(files, prefix, build, c_comment_text(model))
    added: dict[str, str] = {}
    for name in packages:
        added.update(_MAKERS[name](lib))
    return added


class _LibraryFiles:
    """What the packages need to know of the library folder."""

    def __init__(self, files: dict[str, str], prefix: str, build: "LibraryBuild", model: str) -> None:
        own = sorted(n for n in files if not n.startswith(_BUILD_ONLY_PREFIXES))
        self.files = files
        self.prefix, self.target, self.build, self.model = prefix, f"aot_{prefix}", build, model
        self.header = api_header(json.loads(files["metadata.json"]))  # <prefix>.h
        self.sources = [n for n in own if n.endswith(".c")]
        self.headers = [n for n in own if n.endswith(".h")]
        self.external = [e.source for e in build.external]
        # Embedded packages are cross builds: the per-target flags of the board compiled for, or the
        # generic "board" ones for a host compile (what CMakeLists.txt picks when cross-compiling).
        keys = build.target_keys if build.target_keys != ["host"] else ["board"]
        self.cflags = [*build.cflags, *(f for key, flags in build.target_cflags if key in keys for f in flags)]

    def context(self) -> dict:
        return {"prefix": self.prefix, "header": self.header, "target": self.target, "TARGET": self.target.upper(),
                "version": __version__, "model": self.model, "sources": self.sources, "external": self.external,
                "include_dirs": self.build.include_dirs, "defines": self.build.defines, "cflags": self.cflags}

    def refuse_outside_sources(self, package: str) -> None:
        """Arduino and PlatformIO build a library from its own folder only."""
        outside = self.external + [d for d in self.build.include_dirs if d.startswith("/")]
        if outside:
            raise AotError(f"--package {package}: the library uses files outside its folder ({outside[0]}"
                           f"{' and more' if len(outside) > 1 else ''}, from a backend option such as "
                           f"cmsis-nn.path), which {_TITLES[package]} library cannot reach; package it with "
                           f"--package cmake or zephyr, or compile without that backend")


def _render(template: str, lib: _LibraryFiles, **extra) -> str:
    return make_environment().get_template(f"package/{template}").render(**lib.context(), **extra)


def _cmake(lib: _LibraryFiles) -> dict[str, str]:
    groups: dict[str, list[str]] = {}
    for h in lib.headers:
        groups.setdefault(str(PurePosixPath(h).parent) if "/" in h else "", []).append(h)
    install = f"cmake/{lib.target}-install.cmake"
    cmakelists = lib.files["CMakeLists.txt"] + (
        f"# aot compile --package cmake: install() rules and the package config (find_package({lib.target})).\n"
        f"include(${{CMAKE_CURRENT_SOURCE_DIR}}/{install})\n")
    return {"CMakeLists.txt": cmakelists,
            # --weights-file bin: the blob goes beside metadata.json (share/aot_<prefix>/)
            install: _render("cmake_install.cmake.j2", lib, header_groups=sorted(groups.items()),
                             blobs=[n for n in lib.files if n.endswith(".bin")]),
            f"cmake/{lib.target}Config.cmake": _render("cmake_config.cmake.j2", lib)}


def _zephyr(lib: _LibraryFiles) -> dict[str, str]:
    return {"zephyr/module.yml": _render("zephyr_module.yml.j2", lib),
            "zephyr/CMakeLists.txt": _render("zephyr_CMakeLists.txt.j2", lib),
            "zephyr/Kconfig": _render("zephyr_Kconfig.j2", lib)}


def _arduino(lib: _LibraryFiles) -> dict[str, str]:
    lib.refuse_outside_sources("arduino")
    # The flat (1.0) layout: Arduino compiles the .c files of the library's root folder, with the root
    # on the include path, so the folder is the library as it is. It has no place for flags and does
    # not compile subfolders (other than utility/).
    nested = [s for s in lib.sources if "/" in s]
    flags = [*lib.build.include_dirs, *lib.build.defines, *lib.cflags]
    if nested or flags:
        what = f"sources in subfolders ({nested[0]})" if nested else f"compile flags ({' '.join(flags[:3])})"
        raise AotError(f"--package arduino: the library needs {what}, which an Arduino library cannot "
                       f"declare; use --package platformio, zephyr or cmake")
    return {"library.properties": _render("library.properties.j2", lib)}


def _platformio(lib: _LibraryFiles) -> dict[str, str]:
    lib.refuse_outside_sources("platformio")
    flags = [*(f"-I{d}" for d in lib.build.include_dirs), *(f"-D{d}" for d in lib.build.defines),
             "-ffp-contract=off", *lib.cflags]
    manifest = {
        "name": lib.target,
        "version": __version__,
        "description": f"Neural network {lib.model or lib.prefix} compiled to C by aot ({lib.prefix}_run in {lib.header})",
        "keywords": ["aot", "onnx", "neural-network", "inference"],
        "frameworks": "*",
        "platforms": "*",
        "headers": [lib.header, f"{lib.prefix}_info.h"],
        "build": {
            "srcDir": ".",
            "includeDir": ".",
            # Only the library's sources (not libc/, not a build folder a user made here).
            "srcFilter": ["-<*>", *(f"+<{s}>" for s in lib.sources)],
            "flags": flags,
        },
    }
    return {"library.json": json.dumps(manifest, indent=2) + "\n"}


_MAKERS = {"cmake": _cmake, "zephyr": _zephyr, "arduino": _arduino, "platformio": _platformio}
