"""A real PostgreSQL server of the tests' own: Debian's `initdb` and `pg_ctl` into a folder.

PostgreSQL refuses to run as root, so as root (CI machines) the cluster belongs to the
`postgres` user that Debian's package creates, and its commands run as that user. Its folder is
then made directly under the system's temporary folder: pytest's own are private to root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from features.local.processes import free_port

USER = "fleetcast"  # the role the stack's servers connect as (trust on loopback only)
START_TIMEOUT_S = 60


def installed() -> bool:
    """Whether this machine has PostgreSQL's server commands."""
    return _find("initdb") is not None and _find("pg_ctl") is not None


def _find(name: str) -> str | None:
    return shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )


def _binary(name: str) -> str:
    """`name` from PATH, else from Debian's versioned folder (which the package keeps off PATH)."""
    found = _find(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: apt-get install postgresql (.ci/run does)"
        )
    return found


def _as_owner(command: list[str]) -> list[str]:
    """`command` run as the cluster's owner: this user, or `postgres` when this is root."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", *command]


@dataclass
class PostgresServer:
    """One cluster in `folder`, listening on 127.0.0.1:`port` (its socket in the folder)."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fleetcast-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str, driver: str = "postgresql") -> str:
        """The SQLAlchemy address of `database` (`driver` e.g. postgresql+asyncpg)."""
        return f"{driver}://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        if not self.data.exists():
            self._run(
                _binary("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8"
            )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _binary("pg_ctl"),
            "start",
            "-D",
            str(self.data),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
        )

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def stop(self, remove: bool = True) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_binary("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            _as_owner(list(command)), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed: {result.stderr.strip()}\n{tail}")
