"""Phrase search: the FTS5 index beside the warehouse (warehouse/search.py) answers as a plain
reading of the texts would, stays in step with the warehouse (caught up, rebuilt after a
restore, whole chunks after a kill), and reaches analysts through `migwatch search`,
`phrase_ids()` in `migwatch sql` and each ingest run. Real DuckDB and SQLite files."""

from __future__ import annotations

import ctypes
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from flows.oncall import after_ingest_run
from tests.conftest import ROOT
from tests.helpers import article
from tests.test_cli import migwatch
from tests.test_digest_windows import bare_settings
from warehouse import search, store
from warehouse.db import connect, transaction


def _store(db: Path, *texts: tuple[str, str], source: str = "test") -> list[int]:
    """Store (title, text) articles, each at its own URL; their ids."""
    con = connect(db)
    try:
        top = con.execute("SELECT count(*) FROM doc").fetchone()
        start = int(top[0]) if top else 0
        batch = [article(title, text, f"https://example.org/{source}/{start + k}", source)
                 for k, (title, text) in enumerate(texts)]
        with transaction(con):
            stored = store.insert_articles(con, batch, "r", 0.99, 4)
    finally:
        con.close()
    return [s.id for s in stored if s is not None]


def _ids(db: Path, *phrases: str) -> set[int]:
    found = search.matching_ids(list(phrases), db)
    assert len(found) == len(set(found)), "a document indexed twice"
    return set(found)


FILLER = ("The report covers labour migration between Tajikistan and Russia in detail, "
          "with figures from the ministries of both countries and interviews with families. ")


def test_phrases_match_whole_words_in_order_in_any_case(db_path: Path) -> None:
    ids = _store(
        db_path,
        ("Russia extends the entry ban", FILLER + "Lawyers expect appeals."),
        ("Migrants appeal", FILLER + "Two ENTRY BANS were lifted; a reentry banner hung."),
        ("Ban first", FILLER + "The ban covers every entry point."),
        ("Запрет на въезд", FILLER + "МВД приведёт новые данные о мигрантах."),
        ("Муҳоҷирон", FILLER + "Муҳоҷирони кории тоҷик ба Русия мераванд. Вазъи корӣ."),
        ("Asia-Plus", FILLER + "Quotes \"entry\" OR (ban) NEAR the end, café reports."),
    )
    search.catch_up(db_path)
    assert _ids(db_path, "entry ban") == {ids[0]}          # in the title: words apart elsewhere
    assert _ids(db_path, "ENTRY ban*") == {ids[0], ids[1]}  # any case; a prefix word
    assert _ids(db_path, "entry* ban*") == {ids[0], ids[1]}  # not "reentry banner"
    assert _ids(db_path, "запрет НА въезд") == {ids[3]}
    assert _ids(db_path, "приведет") == _ids(db_path, "приведёт") == {ids[3]}   # ё is е
    assert _ids(db_path, "МУҲОҶИРОНИ кории") == {ids[4]}
    assert _ids(db_path, "кори") == set()                  # Tajik's own letters stay: корӣ
    assert _ids(db_path, "корӣ") == {ids[4]}
    assert _ids(db_path, "cafe reports") == {ids[5]}       # Latin diacritics folded
    assert _ids(db_path, 'quotes "entry" or (ban) near') == {ids[5]}   # literal, no syntax
    assert _ids(db_path, "asia-plus") == _ids(db_path, "Asia Plus") == {ids[5]}
    assert _ids(db_path, "entry ban", "запрет на въезд") == {ids[0], ids[3]}   # any of them
    assert _ids(db_path, "labour migration") == set(ids)
    for empty in ('""', " * ", "--"):
        with pytest.raises(ValueError, match="needs a word"):
            search.matching_ids([empty], db_path)


WORDS = ["mig", "ban", "entry", "patent", "квота", "запрет", "въезд", "муҳоҷир", "корӣ",
         "Мигрант", "BAN", "Entry", "2026", "ёлка", "елка"]


def _reference(title: str, text: str, phrase: str) -> bool:
    """The phrase as a reader finds it: its words in a row, in the title or the text,
    ignoring case and punctuation, ё read as е; a word ending in * as a prefix."""
    want = [(w.rstrip("*").lower().replace("ё", "е"), w.endswith("*")) for w in phrase.split()]
    for field in (title, text):
        if not field:
            continue
        words = [w.lower().replace("ё", "е") for w in re.findall(r"[^\W_]+", field)]
        for i in range(len(words) - len(want) + 1):
            if all(words[i + k] == w or (pre and words[i + k].startswith(w))
                   for k, (w, pre) in enumerate(want)):
                return True
    return False


def test_the_index_finds_what_a_reading_of_the_texts_finds(db_path: Path) -> None:
    rnd = random.Random(8)

    def sentence(n: int) -> str:
        return " ".join(rnd.choice(WORDS) + rnd.choice(["", "", ",", ".", " -"])
                        for _ in range(n))
    docs = [(sentence(4), sentence(60)) for _ in range(150)]
    ids = _store(db_path, *docs)
    assert len(ids) == len(docs)
    search.catch_up(db_path)
    phrases = [" ".join(rnd.choice(WORDS) + rnd.choice(["", "", "*"])
                        for _ in range(rnd.randint(1, 3))) for _ in range(60)]
    nonempty = 0
    for phrase in phrases:
        expected = {i for i, (t, x) in zip(ids, docs, strict=True) if _reference(t, x, phrase)}
        assert _ids(db_path, phrase) == expected, phrase
        for _, text in docs:     # the passage `migwatch search` shows: found where it occurs
            assert (search.passage(text, [phrase]) is not None) == _reference("", text, phrase)
        nonempty += bool(expected) and len(expected) < len(ids)
    assert nonempty > 20     # the phrases tell documents apart


def test_the_passage_shown_is_around_the_phrase_in_the_original_text() -> None:
    text = ("Начало. " * 40 + "МВД приведёт данные: ENTRY, bans were lifted. " + "Конец. " * 40)
    around = search.passage(text, ["entry ban*"], width=60)
    assert around is not None and around.startswith("…") and around.endswith("…")
    assert "ENTRY, bans" in around and len(around) <= 62
    assert search.passage(text, ["приведет"]) == search.passage(text, ["приведёт"])
    assert "приведёт" in (search.passage(text, ["приведет"]) or "")    # shown as written
    assert search.passage(text, ["nowhere", "конец"], width=1000) == " ".join(text.split())
    assert search.passage(text, ["entry lifted"]) is None
    assert search.passage("Short text on quotas.", ["quota*"]) == "Short text on quotas."


def test_catch_up_reads_only_what_is_new_and_rebuilds_after_a_restore(db_path: Path,
                                                                      tmp_path: Path) -> None:
    first = _store(db_path, ("One", FILLER + "patent prices rise"),
                   ("Two", FILLER + "quota for Moscow"))
    done = search.catch_up(db_path)
    assert (done.read, done.rebuilt, done.documents) == (2, False, 2)
    backup = tmp_path / "backup.duckdb"
    shutil.copy(db_path, backup)                        # the warehouse closed: a whole copy
    later = _store(db_path, ("Three", FILLER + "entry ban extended"))
    assert (search.catch_up(db_path).read, search.catch_up(db_path).read) == (1, 0)
    assert _ids(db_path, "entry ban") == set(later)

    shutil.copy(backup, db_path)                        # restored: "Three" is gone
    other = _store(db_path, ("Four", FILLER + "remittances fell"))
    assert other == later                               # the same id, another article
    done = search.catch_up(db_path)
    assert (done.read, done.rebuilt, done.documents) == (3, True, 3)
    assert _ids(db_path, "entry ban") == set()
    assert _ids(db_path, "remittances fell") == set(other)
    assert _ids(db_path, "patent prices") == {first[0]}

    shutil.copy(backup, db_path)                        # restored, nothing stored since
    assert search.catch_up(db_path).rebuilt
    assert _ids(db_path, "remittances") == set()


def test_a_new_scheme_rebuilds_and_an_empty_warehouse_indexes_nothing(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(db_path).close()
    assert search.catch_up(db_path).documents == 0
    ids = _store(db_path, ("One", FILLER + "patent prices rise"))
    assert search.catch_up(db_path).read == 1
    monkeypatch.setattr(search, "SCHEME", search.SCHEME + 1)
    done = search.catch_up(db_path)
    assert (done.read, done.rebuilt, done.documents) == (1, True, 1)
    assert _ids(db_path, "patent prices") == set(ids)
    assert search.catch_up(db_path).read == 0


SLOW = """
import sys, time
from pathlib import Path
from warehouse import search
def slowly(read):
    print(read, flush=True)
    time.sleep(float(sys.argv[3]))
search.catch_up(Path(sys.argv[1]), chunk=int(sys.argv[2]), progress=slowly)
"""


def _slow_catch_up(db: Path, chunk: int, pause: float) -> subprocess.Popen[str]:
    """A catch-up in another process that pauses `pause` s after each chunk of `chunk`
    documents, once it has printed how many it has read."""
    return subprocess.Popen([sys.executable, "-c", SLOW, str(db), str(chunk), str(pause)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_a_catch_up_killed_midway_keeps_whole_chunks_and_the_next_one_ends_it(
        db_path: Path) -> None:
    ids = _store(db_path, *[(f"T{k}", FILLER + f"story number w{k}") for k in range(12)])
    proc = _slow_catch_up(db_path, 5, 30)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "5"        # one chunk committed, in its pause
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert _ids(db_path, "labour migration") == set(ids[:5])
    done = search.catch_up(db_path)
    assert (done.read, done.rebuilt, done.documents) == (7, False, 12)
    assert _ids(db_path, "labour migration") == set(ids)
    assert _ids(db_path, "w3") == {ids[3]}


def test_a_long_catch_up_lets_the_writer_store_between_chunks(db_path: Path) -> None:
    """The warehouse is open read-only for one chunk at a time: a first build over years of
    articles never holds the ingest's writer for longer than a chunk."""
    _store(db_path, *[(f"T{k}", FILLER) for k in range(12)])
    proc = _slow_catch_up(db_path, 2, 0.5)              # 6 chunks: 3 s at least
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "2"
    later = _store(db_path, ("Late", FILLER + "quota cut"))   # a writer, lock wait 120 s
    assert proc.poll() is None                           # stored while the build goes on
    assert proc.wait(30) == 0
    search.catch_up(db_path)
    assert _ids(db_path, "quota cut") == set(later)
    assert len(_ids(db_path, "labour migration")) == 13


def test_a_catch_up_waits_for_a_writer_only_as_long_as_told(db_path: Path) -> None:
    _store(db_path, ("One", FILLER))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from warehouse.db import connect; "
         "c = connect(sys.argv[1]); print('open', flush=True); time.sleep(2); c.close()",
         str(db_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    with pytest.raises(duckdb.IOException, match="lock"):
        search.catch_up(db_path, wait=0)
    assert search.catch_up(db_path, wait=30).read == 1   # once the writer has closed
    holder.wait(10)


def test_migwatch_search_and_phrase_ids(tmp_path: Path, db_path: Path) -> None:
    old, new, ru = _store(
        db_path, ("Entry ban for 2,000", FILLER + "The entry ban was extended."),
        ("Entry bans lifted", FILLER + "Several entry bans were lifted."),
        ("Запрет на въезд", "Россия продлила запрет на въезд для граждан Таджикистана, "
                            "сообщило МВД. Запрет на въезд касается мигрантов с двумя "
                            "нарушениями, и юристы в Душанбе ждут новых обжалований."),
        source="asiaplus")
    con = connect(db_path)
    con.execute("UPDATE doc SET published_at = ?::TIMESTAMPTZ + to_days(id::INTEGER)",
                ["2026-01-01"])
    con.close()
    proc = migwatch("search", "entry ban*", "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.index("Entry bans lifted") < proc.stdout.index("Entry ban for 2,000")
    assert "2026-01-03 00:00  asiaplus (en)  Entry bans lifted\n" in proc.stdout
    assert "    https://example.org/asiaplus/1\n    …" in proc.stdout
    assert "Several entry bans were lifted." in proc.stdout   # the passage around it
    assert "2 stored documents match (seeds included); 2 shown after the filters" in proc.stderr
    proc = migwatch("search", "entry ban*", "запрет на въезд", "--lang", "ru", "--db",
                    str(db_path))
    assert "Запрет на въезд" in proc.stdout and "Entry" not in proc.stdout
    proc = migwatch("search", "entry ban*", "--since", f"2026-01-0{new + 1}", "--db",
                    str(db_path))
    assert "Entry bans lifted" in proc.stdout and "2,000" not in proc.stdout
    proc = migwatch("search", "entry ban*", "--limit", "1", "--source", "nowhere", "--db",
                    str(db_path))
    assert proc.returncode == 0 and "; 0 shown after" in proc.stderr
    proc = migwatch("search", "--db", str(db_path), "--", "--")
    assert proc.returncode == 2 and "needs a word" in proc.stderr
    proc = migwatch("search", "x", "--db", str(tmp_path / "none.duckdb"))
    assert proc.returncode == 2 and "no warehouse" in proc.stderr

    _store(db_path, ("Entry ban again", FILLER + "A third entry ban."), source="cabar")
    proc = migwatch("sql", "select count(*) as n, min(source) as s from articles where id in "
                    "(select unnest(phrase_ids('entry ban')))", "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"│\s+2 │ asiaplus", proc.stdout), proc.stdout   # caught up first
    assert old and ru


def test_each_ingest_keeps_an_existing_index_current(tmp_path: Path, db_path: Path) -> None:
    settings = bare_settings(tmp_path)
    _store(db_path, ("One", FILLER + "patent prices rise"))
    assert not any("search index" in n for n in after_ingest_run(db_path, settings))
    assert not search.index_path(db_path).exists()      # no one searched: none built
    search.catch_up(db_path)
    later = _store(db_path, ("Two", FILLER + "quota for Moscow"))
    notes = after_ingest_run(db_path, settings)
    assert "search index: 1 articles added" in notes
    assert _ids(db_path, "quota for moscow") == set(later)

    backup = tmp_path / "backup.duckdb"
    shutil.copy(db_path, backup)
    _store(db_path, ("Three", FILLER + "entry ban extended"))
    search.catch_up(db_path)
    shutil.copy(backup, db_path)                         # restored: "Three" is gone
    notes = after_ingest_run(db_path, settings)          # a rebuild is left to a search
    assert any(n.startswith("search index: the search index ") and "no longer matches" in n
               and n.endswith("the next `migwatch search` rebuilds it") for n in notes), notes
    assert search.catch_up(db_path).rebuilt

    search.index_path(db_path).write_bytes(b"not a database")
    notes = after_ingest_run(db_path, settings)
    assert any(n.startswith("WARNING search index not brought up to date: SearchUnavailable: "
                            "cannot use the search index") for n in notes), notes
    proc = migwatch("search", "quota", "--db", str(db_path))
    assert proc.returncode == 2
    assert "delete it, and the next search builds it again" in proc.stderr


def test_a_caught_up_index_answers_without_the_warehouse(db_path: Path) -> None:
    ids = _store(db_path, ("One", FILLER))
    search.catch_up(db_path)
    moved = db_path.rename(db_path.with_suffix(".moved"))
    assert search.matching_ids(["labour migration"], db_path) == ids
    assert not db_path.exists() and moved.exists()


def test_migwatch_search_stories_folds_copies_into_their_story(db_path: Path) -> None:
    """--stories: one line per story, its copies named under it; --limit counts stories."""
    quota = FILLER + "The quota for work patents was raised to 2,000 this year."
    first = _store(db_path, ("Patent quota raised", quota), source="asiaplus")
    copy = _store(db_path, ("Patent quota raised", quota), source="fergana")
    fees = _store(db_path, ("Patent fees", FILLER + "Work patents cost more in Moscow now."),
                  source="cabar")
    con = connect(db_path)
    con.execute("UPDATE doc SET published_at = ?::TIMESTAMPTZ + to_days(id::INTEGER)",
                ["2026-01-01"])
    copied = con.execute("SELECT duplicate_of FROM doc WHERE id = ?", copy).fetchone()
    con.close()
    assert copied == (first[0],)

    proc = migwatch("search", "work patent*", "--db", str(db_path))
    assert proc.stdout.count("Patent quota raised") == 2 and "also:" not in proc.stdout
    proc = migwatch("search", "work patent*", "--stories", "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Patent quota raised") == 1, proc.stdout
    assert "  asiaplus (en)  Patent quota raised\n" in proc.stdout   # the original stands
    assert "    also: fergana (en)\n" in proc.stdout
    assert proc.stdout.index("Patent fees") < proc.stdout.index("Patent quota raised")
    assert "3 stored documents match (seeds included); 2 stories (3 of their articles) shown" \
        in proc.stderr
    proc = migwatch("search", "work patent*", "--stories", "--limit", "1", "--db", str(db_path))
    assert "Patent fees" in proc.stdout and "quota" not in proc.stdout and fees


def _without_file_override() -> None:
    """In a child of root, before exec: give up the capabilities that let root read and write
    any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that permission bits bind it."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:      # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _as_reader(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`migwatch ARGS` as an analyst who may read `folder` but not write in it: the folder
    and its files are made read-only to this user for the call (for root, which may write
    anything, the folder is handed to the user nobody and the call runs without root's
    override of file permissions)."""
    cmd = [sys.executable, "-m", "flows.cli", *args]
    modes = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid)
             for p in [folder, *folder.iterdir()]}
    root = os.geteuid() == 0
    try:
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
            if root:
                os.chown(path, 65534, 65534)
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                              preexec_fn=_without_file_override if root else None)
    finally:
        for path, (mode, uid, gid) in modes.items():
            if root:
                os.chown(path, uid, gid)
            path.chmod(mode)


def test_an_analyst_who_may_not_write_searches_the_operator_s_index() -> None:
    """Searching only reads the index: an analyst with read access to the warehouse's folder
    searches what the operator's runs indexed, is told what is left out when the index is
    behind, and gets a clear error (exit 2) when there is none to read."""
    folder = Path(tempfile.mkdtemp(prefix="migwatch-reader-"))
    try:
        folder.chmod(0o755)     # readable by anyone, writable by the operator only
        db = folder / "w.duckdb"
        _store(db, ("Entry ban extended", FILLER + "The entry ban was extended."),
               ("Quota", FILLER + "The quota for work patents was raised."))
        proc = _as_reader(folder, "search", "entry ban", "--db", str(db))
        assert proc.returncode == 2 and "no search index yet" in proc.stderr, proc.stderr
        assert not search.index_path(db).exists()

        search.catch_up(db)     # the operator's search or run
        proc = _as_reader(folder, "search", "entry ban", "--db", str(db))
        assert proc.returncode == 0, proc.stderr
        assert "Entry ban extended" in proc.stdout and "not searched" not in proc.stderr
        _store(db, ("Entry ban lifted", FILLER + "The entry ban was lifted."))
        proc = _as_reader(folder, "search", "entry ban", "--db", str(db))
        assert proc.returncode == 0, proc.stderr
        assert "Entry ban extended" in proc.stdout and "lifted" not in proc.stdout
        assert "search index: 1 article(s) stored since it was last brought up to date are " \
               "not searched" in proc.stderr
        proc = _as_reader(folder, "sql", "select count(*) as n from articles where id in "
                          "(select unnest(phrase_ids('entry ban')))", "--db", str(db))
        assert proc.returncode == 0 and re.search(r"│\s+1 │", proc.stdout), proc.stderr
        assert search.catch_up(db).read == 1    # the operator's next search adds it
        proc = _as_reader(folder, "search", "entry ban", "--db", str(db))
        assert "lifted" in proc.stdout and "not searched" not in proc.stderr
    finally:
        shutil.rmtree(folder)
