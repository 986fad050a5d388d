"""Real services that tests start themselves: a PostgreSQL server in a temporary directory.

Debian's ``postgresql`` package gives the binaries (``make test`` installs it when it is
missing and runs as root).  The server listens on a Unix socket in its own directory and on
a free loopback port; it runs as an unprivileged user when the tests run as root (PostgreSQL
refuses to run as root).  Outside CI a machine without PostgreSQL skips the tests that need
it, saying how to install it; with ``CI=true`` that is a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def _missing(what: str, how: str):
    message = f"{what} is not installed: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in ``root``; ``url`` names a database ready for a gradebook."""

    def __init__(self, root: Path):
        self.bin = postgres_bin()
        if self.bin is None:
            _missing("PostgreSQL", "apt-get install postgresql (make test does this as root)")
        self.root = Path(root)
        self.data, self.socket_dir = self.root / "data", self.root / "socket"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                _missing("the postgres system user", "apt-get install postgresql creates it")

    def _run(self, *args, **kwargs):
        command = [str(self.bin / args[0]), *map(str, args[1:])]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> "PostgresServer":
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "gradlab", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "server.log", "-w", "start")
        deadline = time.monotonic() + 30
        while self._ready() is False and time.monotonic() < deadline:
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            self._run("pg_isready", "-h", "127.0.0.1", "-p", self.port)
            return True
        except subprocess.CalledProcessError:
            return False

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "gradlab", name)
        return f"postgresql+psycopg2://gradlab@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
