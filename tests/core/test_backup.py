"""A backup taken while the embedded database is being written is consistent, and restores."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the embedded database's backup")


def guahao(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["GUAHAO_DATA_DIR"] = str(data)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "guahao.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A data directory migrated once (by ``guahao migrate``), copied for each test."""
    data = tmp_path_factory.mktemp("migrated") / "data"
    done = guahao(data, "migrate")
    assert done.returncode == 0, done.stderr
    return data


def data_dir(migrated: Path, to: Path) -> Path:
    """A copy of the migrated data directory, with a secret key of its own."""
    shutil.copytree(migrated, to)
    (to / "secret_key").write_text(secrets.token_hex(32))
    return to


def test_a_backup_taken_while_the_database_is_written_restores_whole(tmp_path, migrated):
    live = data_dir(migrated, tmp_path / "live")
    database = live / "guahao.sqlite3"
    stop = threading.Event()

    def hospitals_keep_coming() -> None:  # another process's writes, as the server's would be
        with sqlite3.connect(database, timeout=30) as db:
            n = 0
            while not stop.is_set():
                n += 1
                db.execute(
                    "INSERT INTO catalog_hospital (code, name, name_en, grade, timezone, address, phone, notice,"
                    " notice_en, is_active) VALUES (?, ?, '', '', 'Asia/Shanghai', '', '', '', '', 1)",
                    (f"h{n}", f"医院{n}"),
                )
                db.commit()
        db.close()

    writer = threading.Thread(target=hospitals_keep_coming)
    writer.start()
    try:
        made = guahao(live, "backup", "--to", str(tmp_path / "b.tar.gz"))
    finally:
        stop.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "b.tar.gz").stat().st_mode & 0o077 == 0  # the owner's alone

    elsewhere = data_dir(migrated, tmp_path / "restored")
    assert (elsewhere / "secret_key").read_text() != (live / "secret_key").read_text()
    done = guahao(elsewhere, "restore", str(tmp_path / "b.tar.gz"))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(elsewhere / "guahao.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        codes = [c for (c,) in db.execute("SELECT code FROM catalog_hospital ORDER BY id")]
    db.close()
    assert codes and codes == [f"h{n}" for n in range(1, len(codes) + 1)]  # a prefix of the writes: none torn
    assert (elsewhere / "secret_key").read_text() == (live / "secret_key").read_text()


def test_restoring_something_else_is_refused_and_changes_nothing(tmp_path, migrated):
    data = data_dir(migrated, tmp_path / "data")
    before = (data / "guahao.sqlite3").read_bytes()
    (tmp_path / "x.tar.gz").write_bytes(b"not a backup")
    refused = guahao(data, "restore", str(tmp_path / "x.tar.gz"))
    assert refused.returncode == 1 and "guahao restore" in refused.stderr
    assert (data / "guahao.sqlite3").read_bytes() == before
