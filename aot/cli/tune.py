"""``aot tune`` and the ``--tuning-db`` option of ``aot compile`` and ``aot inspect``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import AotError
from .board import add_board_options, apply_board_options
from .build_options import add_cc_option, add_opt_option, check_board_cc
from .options import add_compile_options, compile_options


def add_tuning_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tuning-db", metavar="FILE",
                   help="apply the best choices an `aot tune` recorded in this database (backend per layer, "
                        "layouts); layers it has no record of keep the preference order")


def _backends(options, board_name: str, board_dirs: list[str]) -> list[str]:
    from ..compiler import resolve_backends
    from ..targets.board import resolve_board
    return resolve_backends(resolve_board(board_name, board_dirs), options.backends or None)


def apply_tuning(options, args: argparse.Namespace):
    """``options`` with the database's choices for this model and board (``--tuning-db``), saying
    what it applied."""
    if not getattr(args, "tuning_db", None):
        return options
    from ..tune.measure import format_cost
    from ..tune.tuner import NoRecords, configuration_options, tune, tuned_options
    db = Path(args.tuning_db)
    if not db.exists():
        raise AotError(f"tuning database '{db}' does not exist; create it with: aot tune {args.model} "
                       f"--board {options.board} --db {db}")
    backends = _backends(options, options.board, options.board_dirs)
    try:
        result = tune(args.model, options.board, backends, db, measure=False, rounding=options.rounding,
                      board_dirs=options.board_dirs, backend_options=options.backend_options, plugins=options.plugins)
    except NoRecords as exc:
        print(f"note: tuning database: {exc}; every layer keeps the preference order", file=sys.stderr)
        return options
    for note in result.notes:
        print(f"note: tuning database: {note}", file=sys.stderr)
    if result.chosen == "tuned":
        used = sorted({c.backend for c in result.choices})
        print(f"tuning database: {len(result.choices)} layers from its records ({', '.join(used)}; "
              f"{result.layouts} layouts), {format_cost(result.final_cost(), result.unit)} measured", file=sys.stderr)
        return tuned_options(result, backends, options)
    config = result.configurations[result.chosen].configuration
    print(f"tuning database: configuration {config.name} measured best "
          f"({format_cost(result.final_cost(), result.unit)})", file=sys.stderr)
    return configuration_options(config, options)


def cmd_tune(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from ..tune.report import as_json, markdown
    from ..tune.tuner import configurations, tune
    options = apply_board_options(compile_options(args), args)
    check_board_cc(args.cc, options.board, options.board_dirs, args.model)
    backends = [b for name in args.backends.split(",") for b in [name.strip()] if b] if args.backends else \
        _backends(options, options.board, options.board_dirs)
    executor = None
    client = None
    if args.dask_scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise AotError("--dask-scheduler needs Dask's distributed package: "
                           "pip install 'dask[distributed]'") from None
        try:
            client = Client(args.dask_scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise AotError(f"cannot reach the Dask scheduler at {args.dask_scheduler}: {exc}") from None
        executor = client.get_executor()
    total = len(configurations(backends)[0])
    bar = tqdm(total=total, desc="configurations", unit="config", disable=not sys.stderr.isatty(), leave=False)
    counts = {"measured": 0, "cached": 0, "failed": 0}

    def progress(kind: str, n: int) -> None:
        counts[kind] += n
        bar.update(n)
        bar.set_postfix(counts)

    from ..tune.objective import Objective
    objective = Objective(args.objective, args.arena_weight, args.flash_weight, args.max_arena, args.max_flash)
    t0 = time.perf_counter()
    try:
        result = tune(args.model, options.board, backends, args.db, jobs=args.jobs, executor=executor, cc=args.cc,
                      opt=args.opt, rounding=options.rounding, board_dirs=options.board_dirs,
                      backend_options=options.backend_options, plugins=options.plugins, progress=progress,
                      objective=objective)
    finally:
        bar.close()
        if client is not None:
            client.close()
    seconds = time.perf_counter() - t0
    text = markdown(result)
    print(text)
    print(f"{result.measured} configurations measured, {result.cached} from the database, {result.failed} failed, "
          f"in {seconds:.1f} s (database {args.db})")
    base = args.report or str(Path(args.db).with_name(f"{Path(args.model).stem}-{result.board}.tune"))
    Path(base + ".md").write_text(text)
    Path(base + ".json").write_text(as_json(result))
    print(f"wrote {base}.md and {base}.json")
    return 0


def add_tune_command(sub) -> None:
    p = sub.add_parser("tune", help="measure backends and layouts per layer on the board and record the best",
                       description="Build the model in every configuration (each backend alone, in its default and "
                                   "channels-last layouts, and the greedy preference order), run each once on the "
                                   "board with the per-layer profile, search the cheapest per-layer cover, measure "
                                   "it end to end and record everything in a SQLite database that `aot compile "
                                   "--tuning-db` applies. A second run reuses the records.")
    add_compile_options(p)
    add_board_options(p, required=True)
    p.add_argument("--backends", metavar="LIST", help="comma-separated backends to consider (default: the board's)")
    p.add_argument("--db", required=True, metavar="FILE", help="the tuning database (SQLite; created if absent)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="configurations measured in parallel (default 1)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="measure on a Dask cluster (e.g. tcp://host:8786) instead of local processes")
    add_cc_option(p, "gcc")
    add_opt_option(p)
    p.add_argument("--report", metavar="FILE", help="report path without suffix (default: beside the database)")
    p.add_argument("--objective", choices=["cost", "arena", "flash"], default="cost",
                   help="minimise the measured cost (instructions on a board, time on the host; default), the "
                        "arena bytes or the flash bytes (ties: the cost)")
    p.add_argument("--arena-weight", type=float, default=0.0, metavar="W",
                   help="add W cost units per arena byte when comparing builds (a weighted mix)")
    p.add_argument("--flash-weight", type=float, default=0.0, metavar="W",
                   help="add W cost units per flash byte when comparing builds")
    p.add_argument("--max-arena", type=int, metavar="BYTES", help="never choose a build with a larger arena")
    p.add_argument("--max-flash", type=int, metavar="BYTES", help="never choose a build with more flash")
    p.set_defaults(func=cmd_tune)
