"""The embedded peer of the state store: a SQLite file, for one machine without redis. It
survives restarts, and several processes may open the same file.

Tables (values are JSON of the models in ``threshold/base.py``):

| Table      | Columns                                      | Kept                             |
|------------|----------------------------------------------|----------------------------------|
| `settings` | `camera` (primary key), `json`               | until `delete`                   |
| `state`    | `camera` (primary key), `json`, `updated_at` | `state_ttl_s` after `updated_at` |
| `position` | `camera` (primary key), `json`, `updated_at` | `state_ttl_s` after `updated_at` |

``transact`` runs inside ``BEGIN IMMEDIATE``, which takes the file's write lock before
reading, so writers in other threads or processes wait (up to ``busy_timeout_s``) instead of
racing, and ``fn`` runs exactly once. The file is in WAL mode, so readers never wait.

A state or position row older than ``state_ttl_s`` reads as absent, exactly like an
expired redis key; such rows are deleted when the store opens and every ``PURGE_EVERY``
writes.

Threads: one connection per store, guarded by a lock. SQLite admits one writer at a time
anyway, so a connection per thread would add file handles, not throughput. Open one store
per process (a connection must not cross a fork).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from streamproc.config.state import EmbeddedStateConfig
from streamproc.threshold.base import CameraSettings, CameraState, IngestPosition
from streamproc.threshold.errors import CorruptStateError, StateStoreError, StateUnavailableError

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

MEMORY = ":memory:"
PURGE_EVERY = 500
SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS settings (camera TEXT PRIMARY KEY, json TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS state "
    "(camera TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS state_updated_at ON state (updated_at)",
    # Added after version 1 shipped; an older streamproc ignores the table.
    "CREATE TABLE IF NOT EXISTS position "
    "(camera TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at REAL NOT NULL)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


class EmbeddedStateStore:
    """``StateStore`` on a SQLite file. ``clock`` gives wall-clock seconds (the age of a
    state row must mean the same after a restart); tests inject a fake one."""

    def __init__(self, cfg: EmbeddedStateConfig, *, clock: Callable[[], float] = time.time):
        self._cfg = cfg
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0
        self.path = cfg.path if cfg.path == MEMORY else str(Path(cfg.path).expanduser())
        if self.path != MEMORY:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StateStoreError(
                    f"cannot create the folder of the state file {self.path}: {e}. "
                    "Point the state store's path somewhere writable."
                ) from e
        with self._errors("open the state file"):
            # isolation_level=None: no implicit transactions, so BEGIN IMMEDIATE is ours.
            self._conn = sqlite3.connect(
                self.path,
                timeout=cfg.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives a crash of the process (not of the OS) and does not
            # fsync every transaction, which a write per window would make costly.
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._transaction("create the tables") as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateStoreError(
                    f"state file {self.path} has schema version {version}, newer than this "
                    f"streamproc understands ({SCHEMA_VERSION}); upgrade streamproc."
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            self._purge(conn)

    def get_settings(self, camera: str) -> CameraSettings:
        with self._lock, self._errors(f"read the settings of camera {camera!r}"):
            row = self._conn.execute(
                "SELECT json FROM settings WHERE camera = ?", (camera,)
            ).fetchone()
        if row is None:
            return CameraSettings()
        return self._decode(CameraSettings, row[0], "settings", camera)

    def set_settings(self, camera: str, settings: CameraSettings) -> None:
        with self._transaction(f"write the settings of camera {camera!r}") as conn:
            conn.execute(
                "INSERT INTO settings (camera, json) VALUES (?, ?) "
                "ON CONFLICT (camera) DO UPDATE SET json = excluded.json",
                (camera, settings.model_dump_json()),
            )

    def get_state(self, camera: str) -> CameraState | None:
        with self._lock, self._errors(f"read the state of camera {camera!r}"):
            return self._read(self._conn, CameraState, "state", camera, self._clock())

    def transact(self, camera: str, fn: Callable[[CameraState | None], tuple[CameraState, R]]) -> R:
        """Atomically read the camera's state, apply ``fn`` and write what it returns.

        Holds the file's write lock meanwhile, so ``fn`` runs once and must be quick."""
        with self._transaction(f"update the state of camera {camera!r}") as conn:
            now = self._clock()
            new, result = fn(self._read(conn, CameraState, "state", camera, now))
            self._write(conn, "state", camera, new, now)
            self._writes += 1
            if self._writes % PURGE_EVERY == 0:
                self._purge(conn)
        return result

    def get_position(self, camera: str) -> IngestPosition | None:
        with self._lock, self._errors(f"read the ingest position of camera {camera!r}"):
            return self._read(self._conn, IngestPosition, "position", camera, self._clock())

    def set_position(self, camera: str, position: IngestPosition) -> None:
        with self._transaction(f"write the ingest position of camera {camera!r}") as conn:
            self._write(conn, "position", camera, position, self._clock())

    def _read(
        self, conn: sqlite3.Connection, model: type[M], table: str, camera: str, now: float
    ) -> M | None:
        """The camera's unexpired row of ``table`` (state or position)."""
        row = conn.execute(
            f"SELECT json FROM {table} WHERE camera = ? AND updated_at > ?",
            (camera, now - self._cfg.state_ttl_s),
        ).fetchone()
        return None if row is None else self._decode(model, row[0], table, camera)

    @staticmethod
    def _write(
        conn: sqlite3.Connection, table: str, camera: str, value: BaseModel, now: float
    ) -> None:
        conn.execute(
            f"INSERT INTO {table} (camera, json, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (camera) DO UPDATE "
            "SET json = excluded.json, updated_at = excluded.updated_at",
            (camera, value.model_dump_json(), now),
        )

    def cameras(self) -> list[str]:
        """Cameras with settings or unexpired state, sorted."""
        with self._lock, self._errors("list the cameras"):
            rows = self._conn.execute(
                "SELECT camera FROM settings UNION SELECT camera FROM state WHERE updated_at > ? "
                "ORDER BY camera",
                (self._clock() - self._cfg.state_ttl_s,),
            ).fetchall()
        return [r[0] for r in rows]

    def delete(self, camera: str) -> None:
        with self._transaction(f"delete camera {camera!r}") as conn:
            conn.execute("DELETE FROM settings WHERE camera = ?", (camera,))
            conn.execute("DELETE FROM state WHERE camera = ?", (camera,))
            conn.execute("DELETE FROM position WHERE camera = ?", (camera,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _purge(self, conn: sqlite3.Connection) -> None:
        expired = self._clock() - self._cfg.state_ttl_s
        conn.execute("DELETE FROM state WHERE updated_at <= ?", (expired,))
        conn.execute("DELETE FROM position WHERE updated_at <= ?", (expired,))

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the thread lock and the file's write lock."""
        with self._lock, self._errors(what):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT: an open transaction would block every later one.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn SQLite errors into messages naming the file and the next step."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise StateUnavailableError(
                    f"could not {what}: another process held the write lock of {self.path} for "
                    f"more than {self._cfg.busy_timeout_s:g}s. Check for a stuck process using "
                    "the file, or raise busy_timeout_s."
                ) from e
            raise StateStoreError(f"could not {what} in {self.path}: {e}") from e
        except sqlite3.Error as e:
            raise StateStoreError(
                f"could not {what} in {self.path}: {e}. Check that the state store's path names "
                "a streamproc state file, or move the file away to start afresh."
            ) from e

    def _decode(self, model: type[M], raw: str, table: str, camera: str) -> M:
        try:
            return model.model_validate_json(raw)
        except ValidationError as e:
            where = f"{self.path} table {table!r} row camera={camera!r}"
            raise CorruptStateError.for_value(where, camera, e) from None
