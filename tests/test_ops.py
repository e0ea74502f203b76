"""Analysts read while ingest writes; Parquet export; consistent backup. Real processes, real
DuckDB files, a real ingest flow against the replica."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from flows.ingest import IngestReport, ingest_flow
from flows.replica.server import SITE, ReplicaServer, demo_config
from tests.conftest import ROOT
from tests.test_warehouse import CONTRACT
from warehouse.db import connect
from warehouse.export import EXPORTED_VIEWS

EXPECTED: dict[str, dict] = json.loads((SITE.parent / "expected.json").read_text("utf-8"))

# Runs `migwatch sql` (the CLI entry point, in-process so each query costs no interpreter
# start) until the stop file appears; writes one line per query: exit status, rows seen.
READER = """
import contextlib, io, re, sys
from pathlib import Path
from flows.cli import main
db, stop, out = sys.argv[1], Path(sys.argv[2]), open(sys.argv[3], "w")
query = ("select count(*) as n, count(*) filter (where r.status = 'running') as unfinished "
         "from articles a left join runs r using (run_id) where not a.is_seed")
while not stop.exists():
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = main(["sql", query, "--db", db])
    seen = re.findall(r"\\b\\d+\\b", buf.getvalue())[-2:] if code == 0 else err.getvalue()
    out.write(f"{code}\\t{seen!r}\\n")
    out.flush()
"""


@dataclass(frozen=True)
class Ingested:
    db: Path
    report: IngestReport
    reads: list[str]          # one line per analyst query made during the ingest


@pytest.fixture(scope="module")
def ingested(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Ingested]:
    tmp = tmp_path_factory.mktemp("ops")
    db, stop, log = tmp / "w.duckdb", tmp / "stop", tmp / "reads.log"
    connect(db).close()                      # an empty warehouse, as after installation
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop), str(log)],
                              cwd=ROOT)
    try:
        while not log.exists() or not log.read_text("utf-8"):
            assert reader.poll() is None
            time.sleep(0.1)
        with ReplicaServer(SITE) as srv:
            cfg = tmp / "s.toml"
            cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
            report = ingest_flow(str(cfg), str(db))
        before = len(log.read_text("utf-8").splitlines())
        while len(log.read_text("utf-8").splitlines()) < before + 2:  # reads after the end
            assert reader.poll() is None
            time.sleep(0.1)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    yield Ingested(db=db, report=report, reads=log.read_text("utf-8").splitlines())


def test_analyst_queries_during_an_ingest_never_fail(ingested: Ingested) -> None:
    assert ingested.report.status == "ok"
    failures = [line for line in ingested.reads if not line.startswith("0\t")]
    assert failures == []
    counts = [int(ast.literal_eval(line.split("\t")[1])[0]) for line in ingested.reads]
    assert len(counts) >= 10                        # the reader really ran during the ingest
    assert counts[0] == 0 and counts[-1] == len(EXPECTED)
    assert counts == sorted(counts)                 # and never a batch that was rolled back


def test_ingest_publishes_its_per_outlet_table_as_a_prefect_artifact(ingested: Ingested
                                                                     ) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["ingest-summary"])))
    mine = [a for a in found if ingested.report.run_id in str(a.data)]
    assert len(mine) == 1 and mine[0].type == "markdown"
    table = str(mine[0].data)
    for s in ingested.report.sources:
        assert f"| {s.source} | ok | {s.new_articles} | {s.duplicates} |" in table


def test_export_writes_every_view_as_parquet_by_month(ingested: Ingested, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "parquet"
    assert main(["export", "--parquet", str(out), "--db", str(ingested.db)]) == 0
    assert set(p.name for p in out.iterdir()) == set(EXPORTED_VIEWS) == set(CONTRACT)
    con, mem = connect(ingested.db, read_only=True), duckdb.connect()
    for view, dated in EXPORTED_VIEWS.items():
        pattern = f"{out / view}/**/*.parquet"
        got = mem.execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchone()
        assert got == con.execute(f"SELECT count(*) FROM {view}").fetchone(), view
        months = {p.name for p in (out / view).iterdir()}
        assert all(m.startswith("month=") for m in months) if dated else months == {
            f"{view}.parquet"}
    parts = mem.execute(f"SELECT DISTINCT month FROM read_parquet('{out}/articles/*/*.parquet',"
                        " hive_partitioning = true)").fetchall()
    want = con.execute("SELECT DISTINCT strftime(coalesce(published_at, fetched_at), '%Y-%m') "
                       "FROM articles").fetchall()
    assert sorted(str(m[0]) for m in parts) == sorted(w[0] for w in want)
    con.close()
    assert main(["export", "--parquet", str(out), "--db", str(ingested.db)]) == 0  # re-export
    assert "articles" in capsys.readouterr().out


def test_backup_is_a_complete_copy_that_opens(ingested: Ingested, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "w.duckdb"
    assert main(["backup", str(target), "--db", str(ingested.db)]) == 0
    assert main(["backup", str(target), "--db", str(ingested.db)]) == 2  # never overwrites
    con = duckdb.connect()
    con.execute(f"ATTACH '{ingested.db}' AS live (READ_ONLY)")
    con.execute(f"ATTACH '{target}' AS bak (READ_ONLY)")
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'live'").fetchall()]
    assert "doc" in tables and "run" in tables
    for t in tables + list(EXPORTED_VIEWS):
        cols = ", ".join(f'"{c[0]}"' for c in con.execute(
            f"SELECT column_name FROM information_schema.columns WHERE table_catalog = 'live' "
            f"AND table_name = '{t}' AND data_type NOT LIKE '%JSON%'").fetchall())
        diff = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM live.{t} EXCEPT ALL "
                           f"SELECT {cols} FROM bak.{t}) UNION ALL SELECT count(*) FROM ("
                           f"SELECT {cols} FROM bak.{t} EXCEPT ALL SELECT {cols} FROM live.{t})"
                           ).fetchall()
        assert diff == [(0,), (0,)], t
    con.close()
    writer = connect(target)                 # opens as a warehouse: migrations already applied
    assert writer.execute("SELECT count(*) FROM articles WHERE NOT is_seed").fetchone() == (
        len(EXPECTED),)
    nxt = writer.execute("SELECT nextval('doc_id_seq')").fetchone()
    assert nxt is not None and nxt[0] > len(EXPECTED)
    writer.close()
