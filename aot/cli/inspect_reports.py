"""The report options of ``aot inspect``: ``--json``, ``--html FILE`` (with ``--profile-json FILE``)
and ``--memory-plot FILE``. ``aot/cli/__init__.py`` calls ``add_report_options(parser)`` and
``print_reports(compiled, args)``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AotError


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON document (the same content as the table)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write a self-contained HTML report: layer table, memory timeline, profile bars")
    parser.add_argument("--profile-json", metavar="FILE",
                        help="with --html: a per-layer profile written by 'aot run --profile --profile-json FILE'")
    parser.add_argument("--memory-plot", metavar="FILE",
                        help="also draw the arena over the schedule: .svg, .html, or .png (needs matplotlib: "
                             "pip install 'aot[plot]'; without it the plot is printed as text)")


def _folder_exists(path: Path, option: str) -> None:
    if not path.parent.is_dir():
        raise AotError(f"{option}: folder '{path.parent}' does not exist")


def check_report_options(args: argparse.Namespace) -> None:
    """Fail on bad report options before the (possibly long) compile."""
    if getattr(args, "count", None) and (args.json or args.html or args.memory_plot):
        raise AotError("--count prints only the layer counts; --json, --html and --memory-plot need the report "
                       "(drop --count)")
    if args.profile_json and not args.html:
        raise AotError("--profile-json draws the profile in the HTML report, so it needs --html FILE too")
    if args.html:
        _folder_exists(Path(args.html), "--html")
    if args.memory_plot:
        from ..flows.memory_plot import FORMATS
        path = Path(args.memory_plot)
        if path.suffix.lower() not in FORMATS:
            raise AotError(f"--memory-plot {path}: expected a file ending in {', '.join(FORMATS)}")
        _folder_exists(path, "--memory-plot")


def print_reports(compiled, args: argparse.Namespace) -> None:
    import json

    from ..flows.inspect import format_data
    from ..flows.report_data import inspect_data
    data = inspect_data(compiled)
    profile = None
    if args.profile_json:
        from ..flows.profile_file import read_profile
        profile = read_profile(Path(args.profile_json))
    print(json.dumps(data, indent=2) if args.json else format_data(data))
    if args.html:
        from ..flows.html_report import html_report
        Path(args.html).write_text(html_report(data, profile))
    if args.memory_plot:
        from ..flows.memory_plot import write_memory_plot
        fallback = write_memory_plot(data["memory"], Path(args.memory_plot), f"arena of {data['model']}")
        if fallback:  # with --json stdout holds only the JSON document
            print(fallback, file=sys.stderr if args.json else sys.stdout)
