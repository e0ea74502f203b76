"""The `migwatch` command as a user runs it: a subprocess, its exit status and its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import parser
from tests.conftest import ROOT

COMMANDS = ["run", "digest", "demo", "sql", "search", "status", "retag", "serve", "health",
            "export", "backup"]


def migwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    proc = migwatch(command, "--help")
    assert proc.returncode == 0 and "--db" in proc.stdout


def test_help_names_every_command_and_exit_status() -> None:
    proc = migwatch("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout
    assert "Exit status" in proc.stdout


def test_readme_documents_every_command_and_view() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert readme.splitlines()[3:5] == ["make demo    # set up .venv, serve an offline replica "
                                        "of six outlets, ingest it, write a digest",
                                        "make test    # set up .venv, then ruff, mypy and the "
                                        "whole test suite"]
    sub = next(a for a in parser()._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert f"`migwatch {command}" in readme, command
    from tests.test_warehouse import CONTRACT
    for view, columns in CONTRACT.items():
        assert f"**`{view}`**" in readme, view
        for column in columns:
            assert f"`{column}`" in readme, (view, column)



def test_every_documented_script_and_doc_link_exists() -> None:
    """The benchmark figures live in docs/benchmarks.md; a renamed script or moved page
    would leave the README pointing at nothing."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
        text = doc.read_text("utf-8")
        for script in set(re.findall(r"\bbench/[\w/]+\.(?:py|sh|sql)\b", text)):
            assert (ROOT / script).is_file(), (doc.name, script)
        for link in set(re.findall(r"\]\(([\w./-]+\.md)\)", text)):
            assert (doc.parent / link).is_file(), (doc.name, link)

def test_bad_configuration_exits_2_with_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[fetch]\ntimeout = "soon"\n', encoding="utf-8")
    proc = migwatch("run", "--config", str(cfg), "--db", str(tmp_path / "w.duckdb"))
    assert proc.returncode == 2
    assert f"{cfg}:2: fetch.timeout: expected float" in proc.stderr


def test_sql_is_read_only_and_prints_a_table(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    from warehouse.db import connect

    connect(db).close()
    proc = migwatch("sql", "select 41 + 1 as answer", "--db", str(db))
    assert proc.returncode == 0 and "answer" in proc.stdout and "42" in proc.stdout
    proc = migwatch("sql", "delete from doc", "--db", str(db))
    assert proc.returncode == 2 and "read-only" in proc.stderr.lower()
    proc = migwatch("sql", "select 1", "--db", str(tmp_path / "none.duckdb"))
    assert proc.returncode == 2 and "no warehouse" in proc.stderr



def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path) -> None:
    """`migwatch sql ... | head`: the pipe closed before the table is written."""
    db = tmp_path / "w.duckdb"
    from warehouse.db import connect

    connect(db).close()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "sql", "select 42 as answer",
                             "--db", str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "Broken" not in err, err


def test_sql_cannot_write_through_attach_copy_or_export(tmp_path: Path) -> None:
    """A read-only connection alone let ATTACH/USE/DETACH reopen the file read-write."""
    from warehouse.db import connect

    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute("INSERT INTO run VALUES ('r1', 'ingest', now(), NULL, 'running', NULL)")
    other = tmp_path / "other.duckdb"
    for query in (f"attach '{other}' as m (read_only false); use m; detach w; "
                  f"attach '{db}' as v (read_only false); delete from v.run",
                  f"select 1; attach '{db}' as v (read_only false)",
                  f"copy (select * from run) to '{tmp_path / 'run.csv'}'",
                  f"export database '{tmp_path / 'dump'}'", "install json", "checkpoint"):
        proc = migwatch("sql", query, "--db", str(db))
        assert proc.returncode == 2 and "is read-only" in proc.stderr, (query, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    proc = migwatch("sql", "select count(*) as runs from run", "--db", str(db))
    assert proc.returncode == 0 and "1" in proc.stdout.split("runs")[-1]
    for query in ("show tables", "describe articles", "pragma table_info('articles')",
                  "explain select * from articles", "summarize select 1 as x"):
        assert migwatch("sql", query, "--db", str(db)).returncode == 0, query


def test_a_file_that_is_not_a_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"not a database" * 1000)
    for command in (["sql", "select 1"], ["status"]):
        proc = migwatch(*command, "--db", str(garbage))
        assert proc.returncode == 2 and "as a warehouse" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    from warehouse.db import connect

    db, taken = tmp_path / "w.duckdb", tmp_path / "a-file"
    connect(db).close()
    taken.write_text("x")
    proc = migwatch("export", "--parquet", str(taken), "--db", str(db))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr

@pytest.mark.slow
def test_shipped_sources_without_internet_fail_cleanly(tmp_path: Path) -> None:
    """No internet here: every real outlet fails, each with its reason; only seeds stored."""
    db = tmp_path / "w.duckdb"
    proc = migwatch("run", "--db", str(db),
                    env={"PREFECT_LOGGING_LEVEL": "ERROR"}, timeout=600)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    from flows.settings import load_settings

    for source in load_settings().sources:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(source.key + " "))
        assert "FAILED" in line and re.search(r"resolve|connection|refused|timeout", line), line
    from warehouse.db import connect

    con = connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM articles WHERE NOT is_seed").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM articles WHERE is_seed").fetchone() == (5,)
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    status = migwatch("status", "--db", str(db))
    assert status.returncode == 3 and "failed x1" in status.stdout


@pytest.mark.parametrize("command", [["digest"], ["digest", "--dry-run"], ["retag"], ["sql",
                                     "select 1"], ["status"], ["export", "--parquet", "out"]])
def test_a_command_that_reads_the_warehouse_refuses_a_missing_one(tmp_path: Path,
                                                                  command: list[str]) -> None:
    """A mistyped --db used to create an empty warehouse and report "nothing new", exit 0."""
    db = tmp_path / "typo" / "w.duckdb"
    proc = migwatch(*command, "--db", str(db))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no warehouse at {db}" in proc.stderr
    assert not db.parent.exists()


@pytest.mark.parametrize("command", [["run"], ["serve"]])
def test_a_command_that_writes_the_warehouse_refuses_a_path_it_cannot_use(
        tmp_path: Path, command: list[str]) -> None:
    """A directory, or a folder that cannot be created: exit 2 naming the path, before
    Prefect starts (it was exit 1 and a failed flow's traceback)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for db, why in ((tmp_path, "is a directory"),
                    (blocker / "w.duckdb", "cannot create its folder")):
        proc = migwatch(*command, "--db", str(db))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"error: warehouse {db}: {why}" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MIGWATCH_SMTP_PORT", "25x", "MIGWATCH_SMTP_PORT must be a whole number, not '25x'"),
    ("MIGWATCH_SMTP_SECURITY", "tls", "MIGWATCH_SMTP_SECURITY must be starttls, ssl or none"),
    ("MIGWATCH_SMTP_TIMEOUT", "-1", "MIGWATCH_SMTP_TIMEOUT must be positive"),
])
def test_bad_smtp_settings_exit_2_naming_the_variable(tmp_path: Path, variable: str,
                                                      value: str, message: str) -> None:
    from warehouse.db import connect

    db = tmp_path / "w.duckdb"
    connect(db).close()
    env = {"MIGWATCH_SMTP_HOST": "127.0.0.1", variable: value}
    for command in (["digest"], ["digest", "--dry-run", "--out", str(tmp_path / "p")]):
        proc = migwatch(*command, "--db", str(db), env=env)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
