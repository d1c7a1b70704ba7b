"""The tuning database: measured costs of candidates, in SQLite (the standard library's sqlite3).

A record is keyed by everything its measurement depends on: the backend, the kernel variant and the
hash of its template, the layout, the layer's signature (op types, attributes, shapes, dtypes and the
quantization parameters that steer the kernel: per-channel or per-tensor, zero points, rounding), the
board, the compiler and its version, the flags and aot's version. The key is a digest of that
canonical JSON, so the database is portable: another machine with the same toolchain finds the same
records, and a changed kernel template or compiler misses them and measures again.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import AotError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY,        -- sha256 of the canonical JSON of the key fields
    fields TEXT NOT NULL,        -- that JSON, for reading the database by hand
    backend TEXT NOT NULL,
    variant TEXT NOT NULL,
    board TEXT NOT NULL,
    cost REAL,                   -- NULL when the candidate failed
    unit TEXT NOT NULL,          -- "instructions" (QEMU) or "seconds" (host)
    status TEXT NOT NULL,        -- "ok" or "failed"
    note TEXT NOT NULL,
    samples INTEGER NOT NULL,
    extra TEXT NOT NULL          -- JSON: other figures of the build (arena_bytes, flash_bytes)
);
CREATE INDEX IF NOT EXISTS by_board ON measurements (board, backend);
"""


@dataclass(frozen=True)
class MeasureKey:
    backend: str
    variant: str
    template_hash: str
    layout: str
    signature: str  # canonical JSON of the layer: op types, attributes, shapes, dtypes, quantization
    board: str
    toolchain: str  # compiler and version, e.g. "arm-none-eabi-gcc 12.2.1"
    flags: str
    aot_version: str

    def fields(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.fields().encode()).hexdigest()


@dataclass(frozen=True)
class Measurement:
    cost: float | None
    unit: str
    status: str = "ok"
    note: str = ""
    samples: int = 1
    extra: str = "{}"

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.cost is not None


class TuningDB:
    """Open (or create) the database at ``path``; ``get``/``put`` by MeasureKey."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(str(self.path))
            self._conn.executescript(_SCHEMA)
            found = self._conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise AotError(f"tuning database {self.path}: {exc}") from None
        if found is None:
            with self._conn:
                self._conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif found[0] != str(SCHEMA_VERSION):
            raise AotError(f"tuning database {self.path} has schema {found[0]}; this aot reads {SCHEMA_VERSION} "
                           f"(tune again into a new file)")
        self.hits = self.misses = 0

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "TuningDB":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get(self, key: MeasureKey) -> Measurement | None:
        row = self._conn.execute("SELECT cost, unit, status, note, samples, extra FROM measurements WHERE key = ?",
                                 (key.digest(),)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return Measurement(*row)

    def put(self, key: MeasureKey, measurement: Measurement) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (key.digest(), key.fields(), key.backend, key.variant, key.board, measurement.cost,
                                measurement.unit, measurement.status, measurement.note, measurement.samples,
                                measurement.extra))

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]

    def records(self) -> Iterator[tuple[dict, Measurement]]:
        """Every record: its key fields and its measurement, in key order."""
        with closing(self._conn.execute("SELECT fields, cost, unit, status, note, samples, extra FROM measurements "
                                        "ORDER BY key")) as cursor:
            for fields, *rest in cursor:
                yield json.loads(fields), Measurement(*rest)
