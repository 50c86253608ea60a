"""Storage: the contract both storages meet, and SQLiteStorage's durability — WAL with
synchronous=FULL, one transaction per Ready, restart recovery, torn-tail repair, and clear
errors for corruption elsewhere and for files that are not our database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh.raft import (
    CompactedError,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    RawNode,
    Snapshot,
    SnapshotOutOfDateError,
    Storage,
    StorageCorruptError,
    UnavailableError,
)
from mesh.raft.sqlite_storage import SQLiteStorage

from .helpers import drain


def ents(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, EntryType.NORMAL, f"e{i}t{term}".encode()) for i in range(first, last + 1)]


@pytest.fixture(params=["memory", "sqlite"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    if request.param == "memory":
        return MemoryStorage
    return lambda: SQLiteStorage(tmp_path / "raft.db")


# -- the contract -----------------------------------------------------------------------------

def test_storage_serves_entries_terms_and_bounds(make_storage: Callable[[], Storage]) -> None:
    s = make_storage()
    s.save(HardState(1, "a", 0), ents(1, 5))
    assert (s.first_index(), s.last_index()) == (1, 5)
    assert [e.index for e in s.entries(2, 5)] == [2, 3, 4]
    assert s.term(0) == 0 and s.term(5) == 1
    assert len(s.entries(1, 6, max_size=1)) == 1  # at least one entry, whatever the limit
    with pytest.raises(UnavailableError):
        s.entries(1, 7)


def test_storage_save_truncates_conflicting_suffix(make_storage: Callable[[], Storage]) -> None:
    s = make_storage()
    s.save(None, ents(1, 5))
    s.save(None, ents(3, 4, term=2))
    assert [(e.index, e.term) for e in s.entries(1, s.last_index() + 1)] == [
        (1, 1), (2, 1), (3, 2), (4, 2)]


def test_storage_compaction_keeps_snapshot_and_drops_prefix(make_storage: Callable[[], Storage]) -> None:
    s = make_storage()
    s.save(HardState(1, "", 5), ents(1, 5))
    snap = s.create_snapshot(4, ConfState(("a",)), b"image")
    s.compact(3)
    assert s.snapshot() == snap == Snapshot(4, 1, ConfState(("a",)), b"image")
    assert (s.first_index(), s.last_index(), s.term(3)) == (4, 5, 1)
    with pytest.raises(CompactedError):
        s.entries(3, 4)
    with pytest.raises(SnapshotOutOfDateError):
        s.create_snapshot(2, ConfState(("a",)), b"older")


def test_storage_installing_a_snapshot_replaces_the_log(make_storage: Callable[[], Storage]) -> None:
    s = make_storage()
    s.save(HardState(1, "", 2), ents(1, 3))
    snap = Snapshot(10, 4, ConfState(("a", "b")), b"leader image")
    s.save(HardState(4, "", 10), [], snap)
    assert (s.first_index(), s.last_index(), s.term(10)) == (11, 10, 4)
    assert s.initial_state() == (HardState(4, "", 10), ConfState(("a", "b")))


# -- SQLite durability ------------------------------------------------------------------------

def test_sqlite_uses_wal_journal_and_synchronous_full(tmp_path: Path) -> None:
    s = SQLiteStorage(tmp_path / "raft.db")
    s.save(HardState(1, "", 0), ents(1, 2), sync=False)  # a lazy write must not leave it lowered
    conn = s.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_sqlite_saves_a_whole_ready_in_one_transaction(tmp_path: Path) -> None:
    s = SQLiteStorage(tmp_path / "raft.db")
    statements: list[str] = []
    s.db.conn.set_trace_callback(statements.append)
    s.save(HardState(2, "a", 1), ents(1, 500), Snapshot())
    s.db.conn.set_trace_callback(None)
    assert sum(1 for st in statements if st.strip().upper() == "COMMIT") == 1
    assert sum(1 for st in statements if st.strip().upper().startswith("BEGIN")) == 1


def test_sqlite_restart_recovers_term_vote_commit_log_membership_and_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    s = SQLiteStorage(path)
    s.bootstrap(ConfState(("a", "b", "c")))
    s.save(HardState(3, "b", 5), ents(4, 8, term=3))
    s.create_snapshot(5, ConfState(("a", "b", "c"), ("l",)), b"image at 5")
    s.compact(4)
    s.close()
    again = SQLiteStorage(path)
    assert again.initial_state() == (HardState(3, "b", 5), ConfState(("a", "b", "c"), ("l",)))
    assert again.snapshot() == Snapshot(5, 3, ConfState(("a", "b", "c"), ("l",)), b"image at 5")
    assert (again.first_index(), again.last_index()) == (5, 8)
    assert again.term(4) == 3 and [e.data for e in again.entries(5, 9)] == [e.data for e in ents(5, 8, 3)]
    assert again.recovery_report == []


def test_sqlite_node_restarts_with_its_log_and_membership(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    storage = SQLiteStorage(path)
    storage.bootstrap(ConfState(("solo",)))
    node = RawNode(Config(id="solo", seed=1), storage)
    node.campaign()
    for i in range(3):
        node.propose(f"x{i}".encode())
    applied = [e.data for e in drain(node).committed if e.type == EntryType.NORMAL]
    assert applied == [b"x0", b"x1", b"x2"]
    term = node.term
    storage.close()
    node = RawNode(Config(id="solo", seed=1), SQLiteStorage(path))
    assert (node.term, node.status().commit, node.conf_state()) == (
        term, node.raft.log.last_index(), ConfState(("solo",)))
    replayed = [e.data for e in drain(node).committed if e.type == EntryType.NORMAL]
    assert replayed == [b"x0", b"x1", b"x2"]  # an in-memory state machine rebuilds from the log


def _sqlite_with_batches(path: Path) -> None:
    s = SQLiteStorage(path)
    s.save(HardState(1, "a", 4), ents(1, 4))  # write 1: committed
    s.save(HardState(1, "a", 4), ents(5, 8))  # write 2: the last one, never acknowledged
    s.close()


def _raw(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def test_sqlite_torn_tail_is_truncated_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    _sqlite_with_batches(path)
    _raw(path, "UPDATE entries SET data = ? WHERE idx = 8", b"half-writ")  # corrupt the bytes
    s = SQLiteStorage(path)
    assert s.last_index() == 7
    assert len(s.recovery_report) == 1 and "entry 8: checksum mismatch" in s.recovery_report[0]
    assert str(path) in s.recovery_report[0]
    s.close()
    assert SQLiteStorage(path).recovery_report == []  # the repair is durable


def test_sqlite_gap_in_last_write_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    _sqlite_with_batches(path)
    _raw(path, "DELETE FROM entries WHERE idx = 6")
    s = SQLiteStorage(path)
    assert s.last_index() == 5 and "entry 6 is missing" in s.recovery_report[0]


def test_sqlite_corruption_in_the_middle_of_the_log_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    _sqlite_with_batches(path)
    _raw(path, "UPDATE entries SET term = 9 WHERE idx = 2")
    with pytest.raises(StorageCorruptError) as err:
        SQLiteStorage(path)
    assert str(path) in str(err.value) and "entry 2: checksum mismatch" in str(err.value)


def test_sqlite_damaged_committed_tail_is_an_error_not_a_silent_truncation(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    s = SQLiteStorage(path)
    s.save(HardState(1, "a", 4), ents(1, 4))
    s.close()
    _raw(path, "UPDATE entries SET data = ? WHERE idx = 4", b"x")
    with pytest.raises(StorageCorruptError, match="commit index"):
        SQLiteStorage(path)


def test_sqlite_damaged_hard_state_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    _sqlite_with_batches(path)
    _raw(path, "UPDATE hard_state SET vote = 'mallory'")
    with pytest.raises(StorageCorruptError, match="hard state"):
        SQLiteStorage(path)


def test_sqlite_garbage_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "raft.db"
    path.write_bytes(b"this is not a database " * 200)
    with pytest.raises(StorageCorruptError) as err:
        SQLiteStorage(path)
    assert str(path) in str(err.value) and "not a usable SQLite database" in str(err.value)
    assert path.read_bytes().startswith(b"this is not")  # never reset


def test_sqlite_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _raw(path, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StorageCorruptError, match="not a mesh Raft log"):
        SQLiteStorage(path)
