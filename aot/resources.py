"""Locates the data folders shipped with the package (templates, runtime_c, boards, examples).

An installed wheel carries them under ``aot/_data``; a source checkout keeps them at the repo root.
"""
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"aot data folder '{name}' is missing from the installation")


def templates_dir() -> Path:
    return data_dir("templates")


def runtime_dir() -> Path:
    return data_dir("runtime_c")


def boards_dir() -> Path:
    return data_dir("boards")


def examples_dir() -> Path:
    return data_dir("examples")
