"""A real PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` in a temporary folder
(in /dev/shm where that RAM file system has room: see ``_roomy_memory_folder``).

Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``) or any ``initdb`` on the
PATH. ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` user (``runuser``). The server listens on 127.0.0.1 on a free port with
``trust`` authentication, ``fsync`` off (a test cluster), and runs on the real clock
(the faketime preload is left out of its environment). Each test gets a database of
its own (``Server.new_database``).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "digest"


def find_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: the newest Debian cluster version, else the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)) else None


def why_not() -> str | None:
    """Why no server can be started here (None: it can)."""
    if find_bin() is None:
        return "PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql)"
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to run initdb as the postgres user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'digest[postgres]')"
    return None


def _roomy_memory_folder() -> str | None:
    """/dev/shm where it is a RAM file system with room for a session's databases (else None: the temp folder).

    On disk each ``CREATE DATABASE`` (a checkpoint and a copy of the template's files) takes
    about 0.2 s and removing the cluster at the end seconds (more on a disk mounted with
    ``discard``); in RAM both are several times quicker. A test cluster runs with fsync off
    anyway, so the disk adds no durability the tests could observe.
    """
    folder = "/dev/shm"
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    room = stats.f_bavail * stats.f_frsize
    return folder if room >= SHM_ROOM and os.access(folder, os.W_OK) else None


SHM_ROOM = 4 * 2**30  # a worker's cluster grows to about 1.5 GB (some 200 databases of 7.5 MB)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One cluster for the session; ``stop`` removes it."""

    def __init__(self) -> None:
        self.bin = find_bin()
        assert self.bin is not None
        self.folder = Path(tempfile.mkdtemp(prefix="digest-pg-", dir=_roomy_memory_folder()))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._numbers = itertools.count(1)
        self._as = []
        if os.getuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        result = subprocess.run([*self._as, *argv], env=env, cwd=self.folder, capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> "Server":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8",
                  "--no-sync", "--locale=C")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "start")
        return self

    def restart(self) -> None:
        """Stop at once (as a crash would) and start again on the same port."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if conn.info.server_version >= 150000:  # copying the files is quicker for a tiny template
                conn.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
            else:
                conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


# fixtures: import them into a test module (``from .pg_server import pg_server, state_db``)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL server (skipped, saying why, where none can be started)."""
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    server = Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A fresh state store on each engine: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    from digest.store import DatabaseURL

    server = request.getfixturevalue("pg_server")
    return DatabaseURL(server.new_database(), tmp_path / "local")
