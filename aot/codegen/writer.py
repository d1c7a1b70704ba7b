"""Writing a compile's outputs without losing anybody's files and without half-written results.

Rules (README, "Output folders"):

* aot records the files it wrote in the folder's ``metadata.json`` (``"files"``). Recompiling replaces
  exactly those, removes the ones this compile no longer writes, and leaves every other file alone.
* A folder holding files aot did not write is refused unless ``force``; ``force`` writes aot's files
  next to them; only ``force`` with ``clean`` deletes them (and only inside the output folder).
* All outputs of one compile (the library folder, an ``--emit-onnx`` file) are one transaction: each is
  first staged in a temporary sibling, then moved into place; a failure while staging writes nothing,
  a failure while moving puts back what was there before.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol, Sequence

from ..errors import AotError

META = "metadata.json"


class Output(Protocol):
    """One output of a transaction: staged, then committed (or rolled back), then finished."""

    def stage(self) -> None: ...  # write everything into temporary siblings; touches nothing in place
    def commit(self) -> None: ...  # move into place; on failure restores the old state itself
    def rollback(self) -> None: ...  # undo a successful commit (a later output failed)
    def discard(self) -> None: ...  # remove temporaries (after a failure)
    def finish(self) -> None: ...  # drop backups of what was replaced (after every commit succeeded)


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write ``outputs`` all or nothing."""
    try:
        for output in outputs:
            output.stage()
    except BaseException:  # also Ctrl-C: temporaries never outlive the process
        for output in outputs:
            output.discard()
        raise
    done: list[Output] = []
    try:
        for output in outputs:
            output.commit()
            done.append(output)
    except BaseException:
        for output in reversed(done):
            output.rollback()
        for output in outputs:
            output.discard()
        raise
    for output in outputs:
        output.finish()


class FileOutput:
    """A single file (``--emit-onnx``), replaced by one rename."""

    def __init__(self, path: str | Path, data: bytes, what: str = "output file") -> None:
        self.path, self.data, self.what = Path(path), data, what
        self.tmp: Path | None = None
        self.backup: Path | None = None

    def stage(self) -> None:
        if not self.path.parent.is_dir():
            raise AotError(f"{self.what}: folder '{self.path.parent}' does not exist")
        if self.path.is_dir():
            raise AotError(f"{self.what}: '{self.path}' is a folder, not a file")
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        self.tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            f.write(self.data)

    def commit(self) -> None:
        assert self.tmp is not None
        if self.path.exists() or self.path.is_symlink():
            self.backup = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, self.backup)
        try:
            os.replace(self.tmp, self.path)
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        if self.backup is not None:
            os.replace(self.backup, self.path)
            self.backup = None
        elif self.tmp is not None and not self.tmp.exists():
            self.path.unlink(missing_ok=True)  # the new file had been moved into place

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)

    def finish(self) -> None:
        if self.backup is not None:
            self.backup.unlink(missing_ok=True)


def _safe_name(name: object) -> str | None:
    """``name`` as a relative path inside the folder, or None (a tampered list never reaches outside)."""
    if not isinstance(name, str) or not name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        return None
    return str(path)


def aot_metadata(folder: Path) -> dict | None:
    """The metadata.json of a folder aot wrote, or None."""
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("generator") == "aot" else None


def recorded_files(meta: dict) -> set[str] | None:
    """The files aot recorded as written (always with metadata.json), or None when the folder comes from
    an aot that kept no list."""
    names = meta.get("files")
    if not isinstance(names, list):
        return None
    return {n for n in map(_safe_name, names) if n is not None} | {META}


def foreign_entries(folder: Path, owned: set[str]) -> list[str]:
    """Entries of ``folder`` aot does not own, sorted: files, or whole subfolders ('sub/') holding none
    of aot's files. Symbolic links are entries themselves, never followed."""
    owned_dirs = {str(p) for name in owned for p in PurePosixPath(name).parents if str(p) != "."}
    found: list[str] = []

    def visit(rel: PurePosixPath) -> None:
        for entry in sorted(os.scandir(folder / rel), key=lambda e: e.name):
            name = str(rel / entry.name) if str(rel) != "." else entry.name
            if entry.is_dir(follow_symlinks=False):
                if name in owned_dirs:
                    visit(PurePosixPath(name))
                else:
                    found.append(name + "/")
            elif name not in owned:
                found.append(name)

    visit(PurePosixPath("."))
    return found


def _inside(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` stays inside ``folder`` (no symbolic-linked subfolder leads elsewhere)."""
    return (folder / name).parent.resolve().is_relative_to(folder.resolve())


def _with_file_list(files: dict[str, str | bytes]) -> dict[str, str | bytes]:
    """``files`` with the list of their names in metadata.json, so a later compile knows what it owns."""
    files = dict(files)
    meta = json.loads(files[META])
    meta["files"] = sorted(files)
    files[META] = json.dumps(meta, indent=2) + "\n"
    return files


class FolderOutput:
    """A library folder: aot's files moved in one by one from a staged sibling, other files kept."""

    def __init__(self, files: dict[str, str | bytes], out: str | Path, *, force: bool = False, clean: bool = False) -> None:
        if clean and not force:
            raise AotError("--clean deletes files aot did not write from the output folder, so it needs "
                           "--force as well")
        bad = [n for n in files if _safe_name(n) != n]
        if bad:
            raise AotError(f"internal: generated file name '{bad[0]}' is not a plain relative path")
        self.files = _with_file_list(files) if META in files else dict(files)
        self.out, self.force, self.clean = Path(out), force, clean
        self.tmp: Path | None = None
        self.backup: Path | None = None
        self.created = False
        self.made_parents: list[Path] = []
        self.remove: list[str] = []  # entries leaving the folder (decided while staging)
        self.moved: list[str] = []  # old entries moved into the backup, in order
        self.placed: list[str] = []  # new files moved into the folder

    # -- checks ------------------------------------------------------------------------------------
    def _to_remove(self) -> list[str]:
        """What has to leave the folder before the new files go in: aot's old files, user files in the
        way of a new one (--force) and, with --clean, every other entry. Refuses what needs --force."""
        if not self.out.exists():
            return []
        if not self.out.is_dir():
            raise AotError(f"output path '{self.out}' exists and is not a folder")
        meta = aot_metadata(self.out)
        # An aot folder without a list (older aot) owns, by name, the files this compile writes.
        owned = set() if meta is None else (recorded_files(meta) or set(self.files) | {META})
        foreign = foreign_entries(self.out, owned)
        # In a folder aot did not write, anything stops the compile; in aot's own folder, the user's
        # additions (a main.c, a subfolder) are fine unless they sit where aot writes a file.
        blocking = foreign if meta is None else [n for n in self.files
                                                 if n not in owned and os.path.lexists(self.out / n)]
        if blocking and not self.force:
            raise AotError(f"output folder '{self.out}' holds files that aot did not write ({_few(blocking)}); "
                           f"choose an empty or new folder, or pass --force to write aot's files next to them "
                           f"(--force --clean also deletes them)")
        in_the_way = [n for n in self.files if n not in owned and (self.out / n).is_dir()
                      and not (self.out / n).is_symlink()]
        if in_the_way and not self.clean:
            raise AotError(f"output folder '{self.out}' holds a folder '{in_the_way[0]}' where aot writes a file; "
                           f"move it away, or pass --force --clean to delete it")
        names = sorted(owned | set(self.files)) + [f.rstrip("/") for f in foreign if self.clean]
        return [n for n in dict.fromkeys(names) if _inside(self.out, n) and os.path.lexists(self.out / n)]

    # -- Output ------------------------------------------------------------------------------------
    def stage(self) -> None:
        self.remove = self._to_remove()
        # Folders made for -o a/b/lib go again if the transaction fails (deepest first).
        self.made_parents = [p for p in (self.out.parent, *self.out.parent.parents) if not p.exists()]
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        for name, text in sorted(self.files.items()):
            (self.tmp / name).parent.mkdir(parents=True, exist_ok=True)  # board files may sit in libc/
            if isinstance(text, bytes):  # --weights-file bin's blob
                (self.tmp / name).write_bytes(text)
            else:
                (self.tmp / name).write_text(text)

    def commit(self) -> None:
        assert self.tmp is not None
        if not self.out.exists():  # a new folder appears whole, in one rename
            self.tmp.rename(self.out)
            self.created = True
            return
        self.backup = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
        try:
            for name in self.remove:
                _move(self.out / name, self.backup / name)
                self.moved.append(name)
            for name in sorted(self.files):
                _move(self.tmp / name, self.out / name)
                self.placed.append(name)
        except BaseException:
            self.rollback()
            raise
        _remove_empty_dirs(self.out, [n for n in self.remove if n not in self.files])

    def rollback(self) -> None:
        if self.created:
            self.out.rename(self.tmp)  # discard() removes it
            self.created = False
            return
        for name in reversed(self.placed):
            (self.out / name).unlink(missing_ok=True)
        for name in reversed(self.moved):
            _move(self.backup / name, self.out / name)
        self.placed, self.moved = [], []

    def discard(self) -> None:
        self._remove_temporaries()
        for parent in self.made_parents:
            try:
                parent.rmdir()  # only when empty: never once the library is in place
            except OSError:
                break

    def finish(self) -> None:
        self._remove_temporaries()

    def _remove_temporaries(self) -> None:
        for tmp in (self.tmp, self.backup):
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def _few(names: list[str]) -> str:
    """One or two names, and how many more: enough to recognise the folder's contents."""
    shown = ", ".join(f"'{n}'" for n in names[:2])
    return shown + (f" and {len(names) - 2} more" if len(names) > 2 else "")


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _remove_empty_dirs(folder: Path, removed: list[str]) -> None:
    """Remove subfolders that held only stale files of aot (e.g. a board's libc/ no longer written)."""
    for name in removed:
        for parent in PurePosixPath(name).parents:
            if str(parent) == ".":
                break
            try:
                (folder / parent).rmdir()  # only succeeds when empty: a user's file keeps it
            except OSError:
                break


def write_folder(files: dict[str, str | bytes], out: str | Path, *, force: bool = False, clean: bool = False) -> Path:
    """Write one library folder by the rules above (the library API; the CLI adds ``--emit-onnx``)."""
    write_outputs([FolderOutput(files, out, force=force, clean=clean)])
    return Path(out)
