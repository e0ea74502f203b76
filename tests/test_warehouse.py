from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from flows.stages.models import FetchEvent, Harvest
from tests.helpers import article, memory_warehouse
from warehouse import db as wdb
from warehouse import store

ROOT = Path(__file__).resolve().parent.parent

CONTRACT = {
    "articles": ["id", "source", "url", "canonical_url", "title", "author", "published_at",
                 "fetched_at", "lang", "lang_confidence", "text", "n_words", "is_seed",
                 "duplicate_of", "similarity", "run_id", "cluster_id", "is_lead",
                 "translation_of"],
    "article_topics": ["article_id", "topic", "label", "score", "evidence"],
    "runs": ["run_id", "flow", "started_at", "finished_at", "status", "summary"],
    "fetches": ["run_id", "source", "kind", "url", "outcome", "http_status", "reason", "n_bytes",
                "elapsed_ms", "logged_at"],
    "outlet_health": ["source", "name", "last_run_at", "last_ok", "last_success_at",
                      "consecutive_failures", "last_error", "articles", "last_new_articles",
                      "runs", "configured"],
    "figures": ["article_id", "seq", "value", "value_high", "unit", "counted", "year", "raw",
                "sentence", "source", "published_at", "lang", "is_seed", "duplicate_of"],
    "topic_daily": ["day", "topic", "lang", "source", "articles"],
    "clusters": ["cluster_id", "first_id", "first_title", "first_source", "first_url",
                 "first_published", "size", "outlets", "last_seen", "langs"],
    "outlet_runs": ["run_id", "source", "logged_at", "ok", "requests", "ok_requests",
                    "not_modified", "soft", "hard", "skipped", "bytes", "new_articles", "error"],
    "failing_outlets": ["source", "name", "consecutive_failures", "failing_after",
                        "last_success_at", "last_error"],
    "outlet_activity": ["source", "articles", "last_published_at", "typical_gap_hours",
                        "quiet_hours", "gone_quiet"],
}


def test_views_keep_their_documented_columns(tmp_path: Path) -> None:
    con = wdb.connect(tmp_path / "w.duckdb")
    for view, columns in CONTRACT.items():
        got = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
        assert got == columns, view


def test_migrating_twice_is_safe_and_ledgered(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = wdb.connect(path)
    first = con.execute("SELECT version, name FROM schema_migration").fetchall()
    assert first and first[0] == (1, "initial")
    assert wdb.migrate(con) == []
    con.close()
    con = wdb.connect(path)
    assert con.execute("SELECT version, name FROM schema_migration").fetchall() == first


def test_views_are_written_again_only_when_their_definitions_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every writer's open used to re-create every view: a transaction, and a checkpoint at
    its close, in each of a run's dozen opens. A view re-created gets a new oid (stable while
    the database stays open: `held` keeps it open across the writers' opens and closes)."""
    path = tmp_path / "w.duckdb"
    held = wdb.connect(path)

    def oids() -> dict[str, int]:
        with wdb.opened(path) as con:
            return dict(con.execute("SELECT view_name, view_oid FROM duckdb_views() "
                                    "WHERE NOT internal").fetchall())

    first = oids()
    assert "articles" in first and oids() == first
    with wdb.opened(path, migrate_schema=False) as con:
        con.execute("DROP VIEW clusters")   # dropped by hand: created again
    again = oids()
    assert set(again) == set(first) and again["clusters"] != first["clusters"]
    views = tmp_path / "views"
    views.mkdir()
    for f in wdb.VIEWS.glob("*.sql"):
        (views / f.name).write_text(f.read_text() + "\n-- changed\n")
    monkeypatch.setattr(wdb, "VIEWS", views)
    changed = oids()
    assert all(changed[name] != again[name] for name in first)
    held.close()


def test_a_failing_migration_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for f in wdb.MIGRATIONS.glob("*.sql"):
        (migrations / f.name).write_text(f.read_text())
    (migrations / "0999_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nSELECT * FROM no_such_table;")
    last_good = max(v for v, _, _ in wdb.migrations())
    monkeypatch.setattr(wdb, "MIGRATIONS", migrations)
    with pytest.raises(duckdb.Error):
        wdb.connect(tmp_path / "w.duckdb")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert con.execute("SELECT max(version) FROM schema_migration").fetchone() == (last_good,)
    assert not con.execute("SELECT * FROM information_schema.tables "
                           "WHERE table_name = 'half_done'").fetchall()


def _harvest(n: int) -> Harvest:
    arts = tuple(article(f"Story {i}", f"Unique story number {i} about the Pamir highway and "
                         f"its reopening after landslides near Khorog, part {i}. " * 8,
                         f"https://e.org/{i}") for i in range(n))
    return Harvest(source="test", name="Test", articles=arts, feeds_ok=1,
                   events=(FetchEvent("test", "feed", "https://e.org/rss", "ok"),))


def test_a_crash_inside_a_batch_stores_nothing_of_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    con = memory_warehouse(tmp_path)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated crash while tagging")

    monkeypatch.setattr(store, "apply_topics", boom)
    with pytest.raises(RuntimeError):
        store.store_harvest(con, _harvest(3), "run-1", 0.8, 4)
    for table in ("doc", "doc_band", "fetch_event", "source_run"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_a_killed_writer_leaves_whole_batches_only(tmp_path: Path) -> None:
    """A real process killed (os._exit) in the middle of its second batch: its documents,
    bands and figures are written, its tags not yet, nothing committed."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.helpers import memory_warehouse
        from tests.test_warehouse import _harvest
        from warehouse import store
        con = memory_warehouse(Path({str(tmp_path)!r}))
        store.store_harvest(con, _harvest(2), "run-1", 0.8, 4)
        real = store.apply_topics      # called once per batch, after its rows are written
        def dying(*a, **k):
            if con.execute("SELECT count(*) FROM doc WHERE run_id = 'run-2'").fetchone()[0]:
                os._exit(9)
            return real(*a, **k)
        store.apply_topics = dying
        store.store_harvest(con, _harvest(5), "run-2", 0.8, 4)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    con = wdb.connect(tmp_path / "w.duckdb")
    assert con.execute("SELECT count(*) FROM doc WHERE source = 'test'").fetchone() == (2,)
    assert con.execute("SELECT DISTINCT run_id FROM source_run").fetchall() == [("run-1",)]
    assert con.execute("SELECT count(*) FROM doc_band").fetchone() == (2 * 42,)


def test_validators_from_before_sitemap_children_are_forgotten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index whose validators were kept before its children were remembered would answer
    304 with no child known: migration 0012 forgets them (one full read of each feed)."""
    before = tmp_path / "migrations"
    before.mkdir()
    for f in wdb.MIGRATIONS.glob("*.sql"):
        if int(f.name[:4]) < 12:
            (before / f.name).write_text(f.read_text())
    monkeypatch.setattr(wdb, "MIGRATIONS", before)
    monkeypatch.setattr(wdb, "VIEWS", tmp_path / "no-views")   # today's need later tables
    con = wdb.connect(tmp_path / "w.duckdb")
    con.execute("INSERT INTO feed_state VALUES ('https://e.org/sitemap_index.xml', 'e', "
                "'\"v1\"', NULL, now())")
    monkeypatch.undo()
    assert "0012_crawl_memory" in wdb.migrate(con)
    assert con.execute("SELECT count(*) FROM feed_state").fetchone() == (0,)
    con.close()


def test_scanned_batch_keeps_nulls_types_and_offsets(tmp_path: Path) -> None:
    """A registered batch stores what a row holds: NULLs where a column's first thousands of
    values are None (DuckDB infers an object column's type from its values), offsets of
    aware datetimes, non-Latin text, 63-bit keys; and the name is gone afterwards."""
    from datetime import UTC, datetime, timedelta, timezone

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE t (id BIGINT, title VARCHAR, seen TIMESTAMPTZ, share DOUBLE, "
                "key UBIGINT)")
    dushanbe = timezone(timedelta(hours=5))
    rows: list[tuple[object, ...]] = [(i, None, None, None, (1 << 62) + i) for i in range(2500)]
    rows += [(2500, "Муҳоҷирон ӯ ӣ", datetime(2024, 5, 1, 12, tzinfo=dushanbe), 0.25, 7),
             (2501, "", datetime(2024, 5, 1, 7, tzinfo=UTC), None, (1 << 63) - 1)]
    with wdb.scanned(con, "t_batch", ("id", "title", "seen", "share", "key"), rows):
        con.execute("INSERT INTO t SELECT id, title, seen, share, key FROM t_batch")
    assert con.execute("SELECT count(*), count(title), count(seen), count(share) FROM t"
                       ).fetchone() == (2502, 2, 2, 1)
    got = con.execute("SELECT title, seen, share, key FROM t WHERE id >= 2500 ORDER BY id"
                      ).fetchall()
    assert [(t, a.astimezone(UTC), s, k) for t, a, s, k in got] == [
        ("Муҳоҷирон ӯ ӣ", datetime(2024, 5, 1, 7, tzinfo=UTC), 0.25, 7),
        ("", datetime(2024, 5, 1, 7, tzinfo=UTC), None, (1 << 63) - 1)]
    assert con.execute("SELECT max(key) FROM t WHERE id < 2500").fetchone() == (
        (1 << 62) + 2499,)
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM t_batch")


@pytest.mark.slow
def test_a_batch_registers_while_another_thread_opens_the_same_file(tmp_path: Path) -> None:
    """The writer and an outlet's known-URL lookup open the warehouse at the same moment: the
    writer's `scanned` batch must still find DuckDB's Python scan (without the connect lock,
    10 of 300 such rounds failed with "pandas_scan does not exist")."""
    path = tmp_path / "w.duckdb"
    with wdb.opened(path, migrate_schema=False) as con:
        con.execute("CREATE TABLE t (a VARCHAR, b INTEGER)")
    rounds, together, errors = 200, threading.Barrier(2), []

    def lookup() -> None:
        with wdb.opened(path, migrate_schema=False) as con:
            con.execute("SELECT count(*) FROM t").fetchall()

    def write() -> None:
        with wdb.opened(path, migrate_schema=False) as con, \
                wdb.scanned(con, "batch", ("a", "b"), [("x", 1)]) as batch:
            con.execute(f"INSERT INTO t SELECT a, b FROM {batch}")

    def each_round(action: Callable[[], None]) -> None:
        """`action` once a round, the two threads' rounds starting together."""
        for _ in range(rounds):
            together.wait()
            try:
                action()
            except Exception as exc:   # every failure is counted
                errors.append(repr(exc))
            together.wait()

    threads = [threading.Thread(target=each_round, args=(lookup,)),
               threading.Thread(target=each_round, args=(write,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with wdb.opened(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (rounds,)


def _old_warehouse(path: Path) -> None:
    """A warehouse as the first release left it: migration 0001 only, one article."""
    first = wdb.migrations()[0]
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, "
                "name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    con.execute(first[2].read_text("utf-8"))
    con.execute("INSERT INTO schema_migration VALUES (?, ?, now())", [first[0], first[1]])
    con.close()


def test_a_read_only_command_upgrades_a_warehouse_of_an_older_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`migwatch sql` / `status` / `export` after an upgrade, before any ingest: the file is
    brought up to date (as a writer would) instead of failing on missing tables and views."""
    from flows.cli import main

    path = tmp_path / "old.duckdb"
    _old_warehouse(path)
    with duckdb.connect(str(path), read_only=True) as con:
        assert len(wdb.pending_migrations(con)) == len(wdb.migrations()) - 1
    assert main(["sql", "select count(*) as n, count(is_lead) from articles",
                 "--db", str(path)]) == 0
    assert "n" in capsys.readouterr().out
    with duckdb.connect(str(path), read_only=True) as con:
        assert wdb.pending_migrations(con) == []


def test_views_of_an_older_release_are_replaced_for_the_reader_without_writing(
        tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    wdb.connect(path).close()
    with duckdb.connect(str(path)) as con:   # as an older release defined `articles`
        con.execute("CREATE OR REPLACE VIEW articles AS SELECT id, source FROM doc")
        con.execute("UPDATE view_version SET fingerprint = 'older'")
    with wdb.opened(path, read_only=True) as con:
        assert con.execute("SELECT count(is_lead) FROM articles").fetchall() == [(0,)]
    with duckdb.connect(str(path), read_only=True) as con:   # nothing was written
        assert con.execute("SELECT fingerprint FROM view_version").fetchall() == [("older",)]
        with pytest.raises(duckdb.BinderException):
            con.execute("SELECT is_lead FROM articles")
    wdb.connect(path).close()    # the next writer re-creates them
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT fingerprint FROM view_version").fetchall() == [
            (wdb.views_fingerprint(),)]


def test_an_old_warehouse_that_cannot_be_upgraded_now_says_what_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Another process reads it (so nobody may write), or the file is not writable: exit 2
    with the command that upgrades it, not a traceback about a missing table."""
    from flows.cli import main

    path = tmp_path / "old.duckdb"
    _old_warehouse(path)
    monkeypatch.setenv("MIGWATCH_LOCK_WAIT", "0.5")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"c = duckdb.connect({str(path)!r}, read_only=True)\nprint('open', flush=True)\n"
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert main(["status", "--db", str(path)]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "written by an older migwatch" in err and f"migwatch migrate --db {path}" in err
    assert main(["migrate", "--db", str(path)]) == 0
    assert "applied 0002_" in capsys.readouterr().out
    assert main(["status", "--db", str(path)]) in (0, 3)
