"""A backup taken while the embedded database is being written is consistent, and restores."""

from __future__ import annotations

import os
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


def test_a_backup_taken_while_the_database_is_written_restores_whole(tmp_path):
    live = tmp_path / "live"
    assert guahao(live, "migrate").returncode == 0
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

    elsewhere = tmp_path / "restored"
    assert guahao(elsewhere, "migrate").returncode == 0
    done = guahao(elsewhere, "restore", str(tmp_path / "b.tar.gz"))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(elsewhere / "guahao.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        codes = [c for (c,) in db.execute("SELECT code FROM catalog_hospital ORDER BY id")]
    db.close()
    assert codes and codes == [f"h{n}" for n in range(1, len(codes) + 1)]  # a prefix of the writes: none torn
    assert (elsewhere / "secret_key").read_text() == (live / "secret_key").read_text()


def test_restoring_something_else_is_refused_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    assert guahao(data, "migrate").returncode == 0
    before = (data / "guahao.sqlite3").read_bytes()
    (tmp_path / "x.tar.gz").write_bytes(b"not a backup")
    refused = guahao(data, "restore", str(tmp_path / "x.tar.gz"))
    assert refused.returncode == 1 and "guahao restore" in refused.stderr
    assert (data / "guahao.sqlite3").read_bytes() == before
