"""Every file the suite writes (exports, audit reports, cleanup snapshots): atomic, private, and
never over data the suite did not write.

One writer for all of them, `atomic_file`:

1. The target is checked first (`check_target`): no control characters in its name; its folder
   exists (only the suite's own folder, `FileRules.own_folder`, is created); it is not the
   database's own file nor one of SQLite's `-wal`, `-shm`, `-journal` files or the cleanup lock
   (by resolved path, and by inode, so a hard link or a symlink to them is caught too); it is
   not a symbolic link, a folder or another special file. An existing file is replaced only with
   `overwrite`, and even then only when it is a file of the same kind the suite wrote.
2. The content goes to a temporary file in the target's folder, created with the configured mode
   (0600 by default: the files hold names and e-mail addresses) and locked while it is written.
3. It is flushed to disk and renamed onto the target: `link` when the target must not exist (so a
   file that appeared meanwhile is never replaced), `replace` with `overwrite`.

How a file the suite wrote is recognised (`Recognise`), by its content, never by its name:
- CSV (export, audit report): it starts with the exact header line that writer writes.
- Parquet (export, audit report, cleanup snapshot): its schema metadata holds the key
  `basket-maintenance` with the writer's kind (`export`, `audit-report`, `retention-snapshot`).
- HTML (audit report): it starts with `<!DOCTYPE html>` and the marker comment `HTML_MARK`.
A file of another kind, or a file the suite wrote before it marked its Parquet files, is not
replaced; the operator moves it away by hand.

A temporary file left by a killed writer (named `TEMP_PREFIX...TEMP_SUFFIX`, no longer locked) is
removed by the next write into the same folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL, make_url

from baskets.backends import backend_for
from baskets.errors import BadInput

try:  # advisory locks mark a temporary file as "being written"; POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_FILE_MODE = 0o600
TEMP_PREFIX = ".basket-maintenance-"
TEMP_SUFFIX = ".partial"
# The Parquet schema metadata key that marks a file as the suite's; its value is the writer's kind.
SUITE_KEY = b"basket-maintenance"
HTML_MARK = "<!-- written by basket-maintenance: audit report -->"
# SQLite's files beside the database, and the cleanup lock file (baskets.locks).
DATABASE_SIBLINGS = ("-wal", "-shm", "-journal", ".cleanup-lock")
# Longest part of the target's name kept in its temporary file's name (file names stop at 255 bytes).
_TEMP_NAME_CHARS = 80

Recognise = Callable[[Path], bool]


@dataclass(frozen=True)
class FileRules:
    """What a writer may do at its target.

    `field` names the target in error messages (a field such as `output`, or a setting).
    `own_folder`: the suite's own folder (the export dir), created with its subfolders when
    missing; any other missing folder is refused. `protected`: files never written, even with
    `overwrite` (the database's, see `database_files`). `mode`: the permission bits of new files.
    """

    field: str = "output"
    overwrite: bool = False
    own_folder: Path | None = None
    protected: tuple[Path, ...] = ()
    mode: int = DEFAULT_FILE_MODE

    def protecting(self, database: str | URL | None) -> FileRules:
        """These rules, also protecting the files of `database` (a URL)."""
        return replace(self, protected=(*self.protected, *database_files(database)))


def database_files(database: str | URL | None) -> tuple[Path, ...]:
    """The files of an SQLite database URL: the database and its -wal, -shm, -journal and lock
    files, absolute. Empty for an in-memory database and for PostgreSQL and MariaDB."""
    if database is None:
        return ()
    url = make_url(database) if isinstance(database, str) else database
    name = url.database
    if backend_for(url).database_file(url) is None or not name or name.startswith("file:"):
        return ()
    main = Path(name).expanduser().absolute()
    return (main, *(main.with_name(main.name + suffix) for suffix in DATABASE_SIBLINGS))


def starts_with(prefix: bytes) -> Recognise:
    """Recognises a file that begins with exactly `prefix` (a CSV header line, the HTML mark)."""

    def recognise(path: Path) -> bool:
        try:
            with open(path, "rb") as stream:
                return stream.read(len(prefix)) == prefix
        except OSError:
            return False

    return recognise


def suite_metadata(kind: str) -> dict[bytes, bytes]:
    """The Parquet schema metadata that marks a file of `kind` as the suite's."""
    return {SUITE_KEY: kind.encode()}


def parquet_of_kind(kind: str) -> Recognise:
    """Recognises a Parquet file whose schema metadata marks it as the suite's file of `kind`."""

    def recognise(path: Path) -> bool:
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_schema(path).metadata or {}
        except Exception:  # noqa: BLE001 - not Parquet at all, or unreadable: not ours
            return False
        return metadata.get(SUITE_KEY) == kind.encode()

    return recognise


def _shown(path: Path | str) -> str:
    return repr(str(path))


def check_target(path: Path, rules: FileRules, ours: Recognise) -> Path:
    """The absolute path of `path` once it is safe to write there under `rules`.

    Creates the missing folders of `rules.own_folder`. Raises BadInput (one line naming
    `rules.field`) for a name with control characters, a missing or unusable folder, a database
    file, a symbolic link, a folder or special file, an existing file without `overwrite`, and an
    existing file `ours` does not recognise as the suite's.
    """
    field = rules.field
    text = str(path)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise _refusal(
            field, f"{text!r} has a control character in it (expected e.g. var/exports/baskets.csv)"
        )
    target = Path(os.path.abspath(path.expanduser()))
    folder = target.parent
    if not folder.is_dir():
        own = None if rules.own_folder is None else Path(os.path.abspath(rules.own_folder.expanduser()))
        if own is None or not (folder == own or own in folder.parents):
            raise _refusal(
                field,
                f"folder {_shown(folder)} does not exist (create it first; expected a path in "
                "an existing folder, e.g. var/exports/baskets.csv)",
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _refusal(
                field, f"cannot create folder {_shown(folder)}: {error.strerror} (expected a writable folder)"
            ) from None
    if _is_protected(target, rules.protected):
        raise _refusal(
            field,
            f"{_shown(target)} is a file of the database itself; not written, even with "
            "`overwrite` (expected e.g. var/exports/baskets.csv)",
        )
    if target.is_symlink():
        raise _refusal(
            field, f"{_shown(target)} is a symbolic link; not written (expected a plain file path)"
        )
    if not target.exists():
        return target
    if target.is_dir():
        raise _refusal(
            field, f"{_shown(target)} is a folder (expected a file path, e.g. {target / 'out.csv'})"
        )
    if not stat.S_ISREG(target.stat().st_mode):
        raise _refusal(field, f"{_shown(target)} is not a regular file; not written")
    if not ours(target):
        raise _refusal(
            field,
            f"{_shown(target)} exists and was not written by basket-maintenance as this kind of "
            "file; not replaced, even with `overwrite` (expected a new file name)",
        )
    if not rules.overwrite:
        raise _refusal(
            field, f"{_shown(target)} exists (use `overwrite` to replace it, or choose a new name)"
        )
    return target


def _is_protected(target: Path, protected: Sequence[Path]) -> bool:
    """Whether `target` is one of `protected`: the same path once links are resolved, or the same
    file (inode) under another name, e.g. a hard link."""
    resolved = target.resolve()
    for guarded in protected:
        if resolved == guarded.resolve():
            return True
        with contextlib.suppress(OSError):
            if os.path.samefile(target, guarded):
                return True
    return False


def _temp_path(final: Path) -> Path:
    name = final.name[:_TEMP_NAME_CHARS]
    return final.with_name(f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _is_being_written(path: Path) -> bool:
    """Whether a live writer holds the lock on temporary file `path`."""
    if fcntl is None:  # without advisory locks, trust only files older than a day to be stray
        return time.time() - path.stat().st_mtime < 86_400
    with open(path, "rb") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
        return False


def remove_stray_temp_files(folder: Path) -> list[Path]:
    """Delete the suite's temporary files in `folder` left by killed writers; returns what went.

    Files a running writer still holds (it keeps them locked) are left alone.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and not path.is_symlink() and not _is_being_written(path):
                path.unlink()
                removed.append(path)
    return removed


class AtomicFile:
    """A locked temporary file beside `final` (see the module's docstring); `commit` renames it
    onto `final`, `discard` removes it. Write to `temp` by name: its mode is set already."""

    def __init__(self, final: Path, rules: FileRules, ours: Recognise) -> None:
        self.final = final
        self.rules = rules
        self.ours = ours
        self.temp = _temp_path(final)
        self.committed = False
        try:
            descriptor = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, rules.mode)
        except OSError as error:
            raise _refusal(
                rules.field,
                f"cannot write in folder {_shown(final.parent)}: {error.strerror} "
                "(expected a writable folder)",
            ) from None
        os.fchmod(descriptor, rules.mode)  # the umask must not narrow (or the caller widen) it
        self._handle: IO[bytes] = os.fdopen(descriptor, "wb")
        if fcntl is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it onto `final`. Raises BadInput when the
        target became unsafe meanwhile (e.g. a file appeared under that name)."""
        os.fsync(self._handle.fileno())  # any descriptor of the file flushes what others wrote
        check_target(self.final, self.rules, self.ours)
        if self.rules.overwrite:
            os.replace(self.temp, self.final)
        else:
            try:  # link, unlike rename, fails when the name was taken since the check
                os.link(self.temp, self.final)
            except FileExistsError:
                raise _refusal(
                    self.rules.field, f"{_shown(self.final)} exists (use `overwrite` to replace it)"
                ) from None
            self.temp.unlink()
        self.committed = True
        self._handle.close()
        _fsync_folder(self.final.parent)

    def discard(self) -> None:
        if not self.committed:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()
        self._handle.close()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def open_atomic_file(path: Path, rules: FileRules, ours: Recognise) -> AtomicFile:
    """Check `path` under `rules`, clear killed writers' temporary files from its folder, and
    start its temporary file. Raises BadInput as `check_target` does."""
    final = check_target(path, rules, ours)
    remove_stray_temp_files(final.parent)
    return AtomicFile(final, rules, ours)


@contextlib.contextmanager
def atomic_file(path: Path, rules: FileRules, ours: Recognise) -> Iterator[AtomicFile]:
    """Write a file at `path` safely: `with atomic_file(path, rules, ours) as file:` write
    `file.temp` by name; on leaving the block it is renamed onto `file.final` (the checked,
    absolute target), or removed if the block raised. Raises BadInput as `check_target` does.
    """
    file = open_atomic_file(path, rules, ours)
    try:
        yield file
        file.commit()
    finally:
        file.discard()


def _refusal(field: str, detail: str) -> BadInput:
    """BadInput for `field` (an input's field, or a setting such as "setting export_dir")."""
    return BadInput(f"{field}: {detail}", field=field if field.isidentifier() else None)


def check_writable_folder(folder: Path, name: str) -> None:
    """Raise BadInput naming `name` (a setting or field) unless `folder` is a folder this process
    may write in, or could be created as one. Creates nothing, so a dry run may check too.

    A folder whose nearest existing part is a file can never be made; permission is as the
    operating system grants it (root may write in a folder its mode bits close).
    """
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        reason = f"{str(existing)!r} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"no permission to write in {str(existing)!r}"
    else:
        return
    raise _refusal(
        name, f"cannot write in {str(folder)!r}: {reason} (expected a writable folder, e.g. var/exports)"
    )
