"""The Jinja environment that renders kernel and model templates."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from ..resources import templates_dir
from .cformat import c_array_body, c_float, c_int


def make_environment(extra_dirs: list[Path] | None = None) -> jinja2.Environment:
    """Templates are looked up in backend-provided folders first, then in the package's. One environment
    per list of folders and process: Jinja compiles each template once per environment (most of a small
    model's compile time), and reloads a template whose file changed."""
    return _environment(tuple(str(d) for d in (extra_dirs or [])) + (str(templates_dir()),))


@lru_cache(maxsize=32)
def _environment(search_path: tuple[str, ...]) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(list(search_path))
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(cfloat=c_float, cint=c_int, carray=c_array_body, ccomment=c_comment_text)
    env.globals.update(prod=_prod, zip=zip, enumerate=enumerate, range=range, min=min, max=max, len=len)
    return env


def c_comment_text(value: object) -> str:
    """Any text (ONNX names are arbitrary strings) made safe inside a /* */ comment on one line."""
    text = " ".join(str(value).split())
    return text.replace("*/", "* /").replace("/*", "/ *")


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
