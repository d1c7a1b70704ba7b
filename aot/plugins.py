"""Plug-ins: Python modules that extend aot through its public registries when imported — backends
(``aot.backends.register_backend``), patterns (``TemplateBackend.pattern``), passes
(``aot.passes.register_pass``) and ops (``aot.ops.register_op``).

They come from ``--plugin module`` / ``CompileOptions.plugins`` or from the ``aot.plugins`` entry-point
group of installed packages (``[project.entry-points."aot.plugins"] name = "pkg.module"``); an entry
point that names a callable is called once after import.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

from .errors import AotError

ENTRY_POINT_GROUP = "aot.plugins"
_loaded: set[str] = set()
_scanned = False  # the installed packages' entry points are read once per process (it takes a while)


def load_plugin(name: str) -> None:
    """Import a plug-in module by dotted name or by the path of a ``.py`` file (once)."""
    if name in _loaded:
        return
    try:
        if name.endswith(".py"):
            path = Path(name).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            spec = importlib.util.spec_from_file_location(f"aot_plugin_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except AotError:
        raise
    except Exception as exc:  # the plug-in's own failure: name it without a traceback
        raise AotError(f"plug-in '{name}' failed to load: {type(exc).__name__}: {exc}") from None
    _loaded.add(name)


def load_plugins(names: list[str] | tuple[str, ...] = (), *, rescan: bool = False) -> None:
    """The entry-point plug-ins of installed packages (read on the first call, or again with
    ``rescan``), then the named ones."""
    global _scanned
    if not _scanned or rescan:
        _scanned = True
        _load_entry_points()
    for name in names:
        load_plugin(name)


def _load_entry_points() -> None:
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        key = f"entry-point:{ep.name}"
        if key in _loaded:
            continue
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as exc:
            raise AotError(f"plug-in entry point '{ep.name}' ({ep.value}) failed to load: "
                           f"{type(exc).__name__}: {exc}") from None
        _loaded.add(key)
