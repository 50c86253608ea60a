"""`SQLiteStorage`: the durable Raft log, hard state and snapshot in one SQLite file.

Schema by sqlite-utils; the hot path (`save`) is raw sqlite3 on `db.conn`. WAL journal with
`synchronous=FULL`: one `save()` — all of one Ready — is ONE transaction, so everything the
node loop proposed in one iteration costs one fsync (group commit). Every entry row carries a
CRC32 and the number of the write (`batch`) that stored it. On open the log is verified:
damage confined to the last write (a torn, never-acknowledged tail) is truncated and reported;
damage anywhere else, a bad hard state or snapshot, or a file that is not our database raises
`StorageCorruptError` naming the file — the node never silently starts from an empty log.

The log since the last compaction is also cached in memory (a `MemoryStorage`), so the core's
reads never touch the disk; compaction bounds that memory.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from .errors import (
    LocalProtocolError,
    RaftInvariantError,
    SnapshotOutOfDateError,
    StorageCorruptError,
)
from .membership import bootstrap_entries
from .messages import ConfState, Entry, EntryType, HardState, Snapshot
from .storage import MemoryStorage, Storage

log = logging.getLogger("mesh.raft.storage")

APPLICATION_ID = 0x6D524654  # "mRFT": marks a file as a mesh Raft log
SCHEMA_VERSION = 1
_ENTRY_KEY = struct.Struct(">QQB")


def entry_crc(index: int, term: int, type_: int, data: bytes) -> int:
    return zlib.crc32(data, zlib.crc32(_ENTRY_KEY.pack(index, term, type_)))


def _hard_state_crc(hs: HardState) -> int:
    return zlib.crc32(f"{hs.term}|{hs.vote}|{hs.commit}".encode())


def _snapshot_crc(s: Snapshot) -> int:
    meta = f"{s.index}|{s.term}|{','.join(s.conf_state.voters)}|{','.join(s.conf_state.learners)}"
    return zlib.crc32(s.data, zlib.crc32(meta.encode()))


class SQLiteStorage(Storage):
    """Durable storage. `recovery_report` lists what was repaired when the file was opened."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.recovery_report: list[str] = []
        self._mem = MemoryStorage()
        self._batch = 0
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self._open()
        except sqlite3.DatabaseError as exc:
            raise StorageCorruptError(self.path, f"not a usable SQLite database ({exc})") from exc

    # -- opening ----------------------------------------------------------------------
    def _open(self) -> None:
        conn = self.db.conn
        tables = set(self.db.table_names())
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if tables and app_id != APPLICATION_ID:
            raise StorageCorruptError(self.path, "SQLite database is not a mesh Raft log "
                                      f"(application_id {app_id:#x}, tables {sorted(tables)})")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StorageCorruptError(self.path, f"cannot enable WAL journal (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
        if not tables:
            with self._transaction():
                self._create_schema()
        self._load()

    def _create_schema(self) -> None:
        db = self.db
        db.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.table("entries").create({"idx": int, "term": int, "type": int, "data": bytes, "crc": int,
                              "batch": int}, pk="idx", not_null={"term", "type", "data", "crc", "batch"})
        db.table("hard_state").create({"id": int, "term": int, "vote": str, "commit_index": int,
                                 "crc": int}, pk="id")
        db.table("snapshot").create({"id": int, "idx": int, "term": int, "voters": str, "learners": str,
                               "data": bytes, "crc": int}, pk="id")
        # log_start: index/term of the entry just before the first stored one (compaction point).
        db.table("meta").create({"key": str, "value": int}, pk="key")
        db.table("meta").insert_all([{"key": "log_start_index", "value": 0},
                               {"key": "log_start_term", "value": 0},
                               {"key": "batch", "value": 0}])

    def _load(self) -> None:
        conn = self.db.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StorageCorruptError(self.path, f"unknown schema version {version}")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self._batch = meta.get("batch", 0)
        start_index = meta.get("log_start_index", 0)
        start_term = meta.get("log_start_term", 0)

        snap = Snapshot()
        row = conn.execute("SELECT idx, term, voters, learners, data, crc FROM snapshot").fetchone()
        if row is not None:
            idx, term, voters, learners, data, crc = row
            snap = Snapshot(idx, term, ConfState(tuple(json.loads(voters)), tuple(json.loads(learners))),
                            bytes(data))
            if _snapshot_crc(snap) != crc:
                raise StorageCorruptError(self.path, f"snapshot at index {idx}: checksum mismatch")
        hs = HardState()
        row = conn.execute("SELECT term, vote, commit_index, crc FROM hard_state").fetchone()
        if row is not None:
            hs = HardState(row[0], row[1], row[2])
            if _hard_state_crc(hs) != row[3]:
                raise StorageCorruptError(self.path, f"hard state {hs}: checksum mismatch")

        entries = self._verified_entries(start_index, hs)
        mem = self._mem
        mem._snapshot = snap
        mem._ents = [Entry(start_term, start_index), *entries]
        mem._hard_state = hs
        if hs.commit > mem.last_index():
            raise StorageCorruptError(
                self.path, f"hard state commit {hs.commit} is past the last entry {mem.last_index()}")

    def _verified_entries(self, start_index: int, hs: HardState) -> list[Entry]:
        rows = self.db.conn.execute(
            "SELECT idx, term, type, data, crc, batch FROM entries WHERE idx > ? ORDER BY idx",
            (start_index,)).fetchall()
        entries: list[Entry] = []
        expected = start_index + 1
        bad: tuple[int, str] | None = None
        for idx, term, type_, data, crc, _batch in rows:
            if idx != expected:
                bad = (expected, f"entry {expected} is missing (next stored entry is {idx})")
                break
            data = bytes(data) if data is not None else b""
            if entry_crc(idx, term, type_, data) != crc:
                bad = (idx, f"entry {idx}: checksum mismatch")
                break
            try:
                entries.append(Entry(term, idx, EntryType(type_), data))
            except ValueError:
                bad = (idx, f"entry {idx}: unknown entry type {type_}")
                break
            expected += 1
        if bad is None:
            return entries
        first_bad, problem = bad
        tail_batches = {r[5] for r in rows if r[0] >= first_bad}
        last_batch = max(r[5] for r in rows)
        if tail_batches <= {last_batch} and hs.commit < first_bad:
            # Only the last write is damaged and nothing in it was committed: it never finished
            # its fsync, so nobody was told about it. Dropping it is safe.
            with self._transaction():
                self.db.conn.execute("DELETE FROM entries WHERE idx >= ?", (first_bad,))
            note = f"{self.path}: {problem}; truncated the torn tail from entry {first_bad}"
            self.recovery_report.append(note)
            log.warning(note)
            return entries
        if not tail_batches <= {last_batch}:
            where = "in the middle of the log: entries written later follow it"
        else:
            where = f"at or below the commit index {hs.commit}: acknowledged data is damaged"
        raise StorageCorruptError(self.path, f"{problem} ({where}; refusing to start)")

    # -- transactions -----------------------------------------------------------------
    class _Tx:
        def __init__(self, conn: sqlite3.Connection, sync: bool) -> None:
            self.conn = conn
            self.sync = sync

        def __enter__(self) -> sqlite3.Connection:
            if not self.sync:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            try:
                self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
            finally:
                if not self.sync:
                    self.conn.execute("PRAGMA synchronous=FULL")

    def _transaction(self, sync: bool = True) -> SQLiteStorage._Tx:
        return SQLiteStorage._Tx(self.db.conn, sync)

    # -- read side (served from memory) -----------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._mem.initial_state()

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        return self._mem.entries(lo, hi, max_size)

    def term(self, index: int) -> int:
        return self._mem.term(index)

    def first_index(self) -> int:
        return self._mem.first_index()

    def last_index(self) -> int:
        return self._mem.last_index()

    def snapshot(self) -> Snapshot:
        return self._mem.snapshot()

    @property
    def hard_state(self) -> HardState:
        return self._mem.hard_state

    # -- write side -------------------------------------------------------------------
    def bootstrap(self, conf_state: ConfState) -> None:
        if self.last_index() != 0 or self.hard_state != HardState():
            raise LocalProtocolError(f"{self.path}: bootstrap on a non-empty log")
        entries = bootstrap_entries(conf_state)
        self.save(HardState(1, "", len(entries)), entries)

    def save(self, hard_state: HardState | None, entries: Sequence[Entry],
             snapshot: Snapshot | None = None, *, sync: bool = True) -> None:
        """Persist one Ready in one transaction (fsynced unless sync=False)."""
        if snapshot is not None and snapshot.index == 0:
            snapshot = None
        if hard_state is None and not entries and snapshot is None:
            return
        if snapshot is not None and snapshot.index <= self._mem.snapshot().index:
            raise SnapshotOutOfDateError(
                f"snapshot {snapshot.index} <= held {self._mem.snapshot().index}")
        first = snapshot.index + 1 if snapshot is not None else self._mem.first_index()
        fresh = [e for e in entries if e.index >= first]
        end = snapshot.index if snapshot is not None else self._mem.last_index()
        if fresh and fresh[0].index > end + 1:
            raise RaftInvariantError(
                f"{self.path}: appending entry {fresh[0].index} would leave a gap after {end}")
        batch = self._batch + 1
        with self._transaction(sync) as conn:
            if snapshot is not None:
                self._write_snapshot(conn, snapshot)
                conn.execute("DELETE FROM entries")
                self._set_log_start(conn, snapshot.index, snapshot.term)
            if fresh:
                conn.execute("DELETE FROM entries WHERE idx >= ?", (fresh[0].index,))
                conn.executemany(
                    "INSERT INTO entries (idx, term, type, data, crc, batch) VALUES (?, ?, ?, ?, ?, ?)",
                    [(e.index, e.term, int(e.type), e.data,
                      entry_crc(e.index, e.term, int(e.type), e.data), batch) for e in fresh])
            if hard_state is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO hard_state (id, term, vote, commit_index, crc) "
                    "VALUES (1, ?, ?, ?, ?)",
                    (hard_state.term, hard_state.vote, hard_state.commit, _hard_state_crc(hard_state)))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'batch'", (batch,))
        self._batch = batch
        self._mem.save(hard_state, fresh, snapshot)

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        snap = self._mem.create_snapshot(index, conf_state, data)
        with self._transaction() as conn:
            self._write_snapshot(conn, snap)
        return snap

    def compact(self, index: int) -> None:
        term = self._mem.term(index)
        self._mem.compact(index)
        with self._transaction() as conn:
            conn.execute("DELETE FROM entries WHERE idx <= ?", (index,))
            self._set_log_start(conn, index, term)

    def close(self) -> None:
        self.db.conn.close()

    @staticmethod
    def _write_snapshot(conn: sqlite3.Connection, s: Snapshot) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO snapshot (id, idx, term, voters, learners, data, crc) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)",
            (s.index, s.term, json.dumps(list(s.conf_state.voters)),
             json.dumps(list(s.conf_state.learners)), s.data, _snapshot_crc(s)))

    @staticmethod
    def _set_log_start(conn: sqlite3.Connection, index: int, term: int) -> None:
        conn.executemany("UPDATE meta SET value = ? WHERE key = ?",
                         [(index, "log_start_index"), (term, "log_start_term")])
