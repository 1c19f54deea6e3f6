"""Backups of the embedded database: ``guahao backup`` and ``guahao restore``.

A backup is one ``.tar.gz`` holding a consistent copy of the SQLite database and of the job queue
(SQLite's online backup, taken while the server runs), the generated secret key when the data
directory keeps it (without it the ID numbers cannot be read back), and a manifest. PostgreSQL is
backed up with its own tools (README).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from guahao.core import clock

FORMAT = 1
DATABASE = "guahao.sqlite3"
JOBS = "jobs.sqlite3"
SECRET = "secret_key"  # noqa: S105 - the file name, not a secret


class BackupError(Exception):
    pass


def _database_file() -> Path:
    if connection.vendor != "sqlite":
        raise BackupError("the database is PostgreSQL: back it up with pg_dump (README, 'Backups')")
    return Path(settings.DATABASES["default"]["NAME"])


def _jobs_file() -> Path | None:
    """The embedded job queue's file (none when the queue is Redis)."""
    name = settings.HUEY.get("filename") if isinstance(settings.HUEY, dict) else None
    return Path(str(name)) if name else None


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included), page by page."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    copy.close()
    live.close()


def backup_create(*, to: Path | None = None) -> Path:
    database = _database_file()
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    target = to or settings.DATA_DIR / "backups" / f"guahao-{stamp}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    applied = list(MigrationRecorder.Migration.objects.values_list("app", "name").order_by("app", "name"))
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        _copy_sqlite(database, folder / DATABASE)
        jobs = _jobs_file()
        if jobs and jobs.exists():
            _copy_sqlite(jobs, folder / JOBS)
        secret = settings.DATA_DIR / SECRET
        if secret.exists():
            shutil.copy(secret, folder / SECRET)
        manifest = {"format": FORMAT, "created_at": clock.now().isoformat(), "migrations": applied}
        with tarfile.open(target, "w:gz") as archive:
            for name in (DATABASE, JOBS, SECRET):
                if (folder / name).exists():
                    archive.add(folder / name, arcname=name)
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    target.chmod(0o600)  # it holds the secret key and personal data
    return target


def backup_restore(*, source: Path) -> Path:
    """Put a backup in place of the data directory's database (the server must be stopped). The
    database it replaces is kept beside it; returns where."""
    database = _database_file()
    connection.close()
    try:
        return _restore(source, database)
    except tarfile.TarError as exc:
        raise BackupError(f"{source} is not a Guahao backup ({exc})") from None


def _restore(source: Path, database: Path) -> Path:
    with tarfile.open(source, "r:gz") as archive, tempfile.TemporaryDirectory() as work:
        names = set(archive.getnames())
        if "manifest.json" not in names or DATABASE not in names:
            raise BackupError(f"{source} is not a Guahao backup")
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{source} is a backup of format {manifest.get('format')}, not {FORMAT}")
        archive.extractall(
            work, members=[m for m in archive.getmembers() if m.name in (DATABASE, JOBS, SECRET)], filter="data"
        )
        folder = Path(work)
        with sqlite3.connect(folder / DATABASE) as check:
            if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source}: the database in it is damaged")
        check.close()
        kept = database.with_name(f"{database.name}.before-restore-{clock.now():%Y%m%d-%H%M%S}")
        if database.exists():
            _copy_sqlite(database, kept)
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        shutil.copy(folder / DATABASE, database)
        jobs = _jobs_file()
        if (folder / JOBS).exists() and jobs:
            shutil.copy(folder / JOBS, jobs)
        if (folder / SECRET).exists():
            secret = settings.DATA_DIR / SECRET
            shutil.copy(folder / SECRET, secret)
            secret.chmod(0o600)
    return kept
