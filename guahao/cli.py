"""The ``guahao`` command.

guahao demo [--host H] [--port P]   migrate, load demo data if empty, serve with the job worker
guahao serve [--host H] [--port P] [--workers N] [--no-worker]   serve an existing database
guahao seed --demo                  load the demo data
guahao worker                       run the background and periodic jobs
guahao migrate                      apply database migrations
guahao backup [--to FILE]           a consistent copy of the embedded database, taken while it runs
guahao restore FILE                 put a backup in place of the embedded database (server stopped)
guahao paysim [--host H] [--port P] [--knobs K]   the payment sandbox (a provider simulator)
guahao hissim [--host H] [--port P] [--faults F]  the HIS simulator
guahao his check|sync|send [--hospital CODE]      compare with, sync from, write back to the HIS
guahao rotate-keys                  seal and hash personal data again under GUAHAO_FIELD_KEY
guahao staff-token --user NAME      print a new API token for a staff user or kiosk
guahao manage …                     any Django management command
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

DEMO_STAFF = ("renhe", "guahao-demo")  # 仁和医院's hospital admin; admin also asks the TOTP code (README)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
    import django

    django.setup()


def _manage(*args: str) -> None:
    _django()
    from django.core.management import call_command

    call_command(*args)


def _ensure_demo() -> None:
    _manage("migrate", "--verbosity", "0")
    from guahao.catalog.models import Hospital

    if not Hospital.objects.exists():
        from guahao import demo

        demo.load()
        print("demo data loaded", flush=True)


def _simulators_write(urls: dict[str, str]) -> Path:
    """Tell every command run against this data directory where the demo's simulators are."""
    _django()
    from django.conf import settings

    path = Path(settings.DATA_DIR) / settings.SIMULATORS_FILE
    path.write_text(json.dumps(urls), encoding="utf-8")
    return path


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_beside(host: str, port: int) -> int:
    """``port`` (the web port + 20 or 21, easy to remember) if it is free, else any free one: a
    web port picked from the ephemeral range may have a client connection's port beside it."""
    import socket

    if port < 65536:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                pass
            else:
                return port
    return _free_port(host)


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()  # noqa: S310 - our own simulator
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    raise SystemExit(f"the simulator at {url} did not start")


def _serve(
    host: str,
    port: int,
    workers: int,
    with_worker: bool,
    banner: bool,
    with_paysim: bool = False,
    with_hissim: bool = False,
) -> int:
    procs: list[subprocess.Popen] = []
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="guahao.settings")
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Every web process and the worker count into files here; /metrics sums them.
        _django()
        from django.conf import settings

        counted = Path(settings.DATA_DIR) / "metrics"
        shutil.rmtree(counted, ignore_errors=True)  # a new start counts from zero
        counted.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(counted)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    env.setdefault("GUAHAO_PUBLIC_URL", f"http://{shown}:{port}")
    if with_paysim and "GUAHAO_PAYSIM_URL" not in os.environ:
        paysim_port = _port_beside(host, port + 20)
        env["GUAHAO_PAYSIM_URL"] = f"http://{shown}:{paysim_port}"
        procs.append(
            subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "guahao.cli", "paysim", "--host", host, "--port", str(paysim_port)], env=env
            )
        )
    if with_hissim and "GUAHAO_HIS_URL" not in os.environ:
        his_port = _port_beside(host, port + 21)
        env["GUAHAO_HIS_URL"] = f"http://{shown}:{his_port}"
        hissim = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "guahao.cli", "hissim", "--host", host, "--port", str(his_port)], env=env
        )
        procs.append(hissim)
        _wait_healthy(env["GUAHAO_HIS_URL"], hissim)
        os.environ["GUAHAO_PUBLIC_URL"] = env["GUAHAO_PUBLIC_URL"]
        from django.conf import settings

        from guahao.his.simulator.seed import simulator_seed

        settings.PUBLIC_URL = env["GUAHAO_PUBLIC_URL"]
        simulator_seed(url=env["GUAHAO_HIS_URL"])
    names: tuple[str, ...] = ("GUAHAO_PAYSIM_URL", "GUAHAO_HIS_URL") if with_paysim or with_hissim else ()
    simulators = {k: env[k] for k in names if k in env}
    found_at = _simulators_write(simulators) if simulators else None
    if with_worker:
        procs.append(subprocess.Popen([sys.executable, "-m", "guahao.cli", "worker"], env=env))  # noqa: S603
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            os.environ.get("GUAHAO_WEB_THREADS", "4"),
            "--no-ws",
            "guahao.wsgi:application",
        ],
        env=env,
        # A group of its own: its workers are stopped with it even if granian's own process ends
        # first (they were once left serving, orphaned, after it).
        start_new_session=True,
    )
    procs.append(server)
    if banner:
        base = f"http://{shown}:{port}"
        print(
            f"\nGuahao is running.\n"
            f"  patient app   {base}/\n"
            f"  API docs      {base}/api/v1/docs   (OpenAPI: {base}/api/v1/openapi.json)\n"
            f"  console       {base}/console/   staff login: {DEMO_STAFF[0]} / {DEMO_STAFF[1]} (more in the README)\n"
            + (f"  pay sandbox   {env['GUAHAO_PAYSIM_URL']}/healthz\n" if with_paysim else "")
            + (f"  HIS simulator {env['GUAHAO_HIS_URL']}/healthz\n" if with_hissim else "")
            + "Press Ctrl+C to stop.\n",
            flush=True,
        )

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        _signal_group(server, signal.SIGTERM)
        if found_at is not None:
            found_at.unlink(missing_ok=True)

    def on_term(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        _signal_group(server, signal.SIGKILL)  # whatever of the web server is still there
    return server.returncode or 0


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal ``process``'s group (its own session's): the web server and its workers."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group has ended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guahao", description="Guahao online appointment registration")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("demo", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--no-worker", action="store_true", help="do not start the job worker")
    seed = sub.add_parser("seed")
    seed.add_argument("--demo", action="store_true", required=True)
    sub.add_parser("worker")
    paysim = sub.add_parser("paysim", help="the payment sandbox")
    paysim.add_argument("--host", default="127.0.0.1")
    paysim.add_argument("--port", type=int, default=8020)
    paysim.add_argument("--store", help="its SQLite file (default: paysim.sqlite3 in the data dir)")
    paysim.add_argument("--public-url", help="the address patients' browsers reach it at")
    paysim.add_argument(
        "--knobs", default=os.environ.get("GUAHAO_PAYSIM_KNOBS", ""), help="e.g. duplicate=0.3,jitter_ms=500"
    )
    hissim = sub.add_parser("hissim", help="the HIS simulator")
    hissim.add_argument("--host", default="127.0.0.1")
    hissim.add_argument("--port", type=int, default=8021)
    hissim.add_argument("--store", help="its SQLite file (default: hissim.sqlite3 in the data dir)")
    hissim.add_argument(
        "--faults",
        default=os.environ.get("GUAHAO_HISSIM_FAULTS", ""),
        help="e.g. latency_ms=50,error=0.05,timeout=0.2,lost=0.1",
    )
    his = sub.add_parser("his", help="compare with, sync from, write back to the HIS")
    his.add_argument("action", choices=["check", "sync", "send"])
    his.add_argument("--hospital", help="a hospital's code")
    sub.add_parser("migrate")
    backup = sub.add_parser("backup", help="a consistent copy of the embedded database, while it runs")
    backup.add_argument("--to", help="the .tar.gz to write (default: backups/ in the data dir)")
    restore = sub.add_parser("restore", help="put a backup in place of the embedded database (server stopped)")
    restore.add_argument("file")
    sub.add_parser("rotate-keys", help="seal and hash personal data again under GUAHAO_FIELD_KEY")
    token = sub.add_parser("staff-token")
    token.add_argument("--user", required=True)
    token.add_argument("--label", default="")
    manage = sub.add_parser("manage")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "demo":
        # The demo's staff log in with a password alone unless they enrolled a second factor
        # (admin has; its secret is in the README). Production asks every staff member.
        os.environ.setdefault("GUAHAO_STAFF_OTP", "optional")
        os.environ.setdefault("GUAHAO_LOG_FORMAT", "plain")  # a terminal, not a log collector
        os.environ.setdefault("GUAHAO_HTTPS", "off")  # plain HTTP on this machine
        _ensure_demo()
        return _serve(
            args.host, args.port, args.workers, not args.no_worker, banner=True, with_paysim=True, with_hissim=True
        )
    if args.command == "serve":
        return _serve(args.host, args.port, args.workers, not args.no_worker, banner=False)
    if args.command == "seed":
        _manage("migrate", "--verbosity", "0")
        from guahao import demo

        demo.load()
        print("demo data loaded")
        return 0
    if args.command == "worker":
        _manage("run_huey")
        return 0
    if args.command in ("backup", "restore"):
        _django()
        from guahao.core import backup as backups

        try:
            if args.command == "backup":
                print(backups.backup_create(to=Path(args.to) if args.to else None))
            else:
                kept = backups.backup_restore(source=Path(args.file))
                print(f"restored {args.file}; the database it replaced is kept at {kept}")
        except (backups.BackupError, OSError) as exc:
            print(f"guahao {args.command}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "paysim":
        from django.conf import settings

        from guahao.payments.sandbox import server

        _django()
        server.serve(
            host=args.host,
            port=args.port,
            store=args.store or str(settings.DATA_DIR / "paysim.sqlite3"),
            merchants={settings.PAYSIM_MCH_ID: settings.PAYSIM_KEY},
            public_url=args.public_url,
            knobs=server.knobs_from(args.knobs),
        )
        return 0
    if args.command == "hissim":
        from django.conf import settings

        from guahao.his.simulator import server as his_server

        _django()
        his_server.serve(
            host=args.host,
            port=args.port,
            store=args.store or str(settings.DATA_DIR / "hissim.sqlite3"),
            key=settings.HIS_KEY,
            faults=his_server.faults_from(args.faults),
        )
        return 0
    if args.command == "his":
        _django()
        from django.core.management import call_command
        from django.core.management.base import CommandError

        try:
            call_command("his", args.action, *(["--hospital", args.hospital] if args.hospital else []))
        except CommandError as exc:
            print(exc, file=sys.stderr)
            return exc.returncode
        return 0
    if args.command == "rotate-keys":
        _django()
        from guahao.console.keys import keys_rotate

        changed = keys_rotate()
        print(", ".join(f"{what}: {n}" for what, n in changed.items()), "sealed or hashed again")
        return 0
    if args.command == "migrate":
        _manage("migrate")
        return 0
    if args.command == "staff-token":
        _django()
        from django.contrib.auth import get_user_model

        from guahao.accounts.services import staff_token_create

        user = get_user_model().objects.get(username=args.user)
        print(staff_token_create(user=user, label=args.label))
        return 0
    if args.command == "manage":
        _django()
        from django.core.management import execute_from_command_line

        execute_from_command_line(["guahao", *args.args])
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
