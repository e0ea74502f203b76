"""Raw HTML retention (`[storage]`, table `doc_html`): off by default; when on, the page is kept
byte for byte as received, in the article's transaction; over the size cap only the size is
kept; old rows can be pruned by age. Real pages from a real HTTP server on loopback."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest

from flows.harvest import harvest_source
from flows.settings import (
    ConfigError,
    FetchSettings,
    Settings,
    Source,
    StorageSettings,
    parse_settings,
)
from flows.stages.article import kept_html
from flows.stages.fetch import make_client
from tests import faults as f
from tests.faultserver import FaultServer, send
from tests.helpers import article
from warehouse import store
from warehouse.db import connect, transaction

SMALL = f.article_html(f.RU_PAGE).encode()                       # UTF-8, ~10 kB
LEGACY = f.article_html(f.RU_PAGE, "windows-1251").encode("windows-1251",
                                                          errors="xmlcharrefreplace")
LARGE = f.article_html(f.TG_PAGE).replace("</body>", "<!--" + "x" * 40_000 + "--></body>"
                                          ).encode()
CAP = 30_000


def _harvest_and_store(db: Path, storage: StorageSettings) -> dict[str, tuple]:
    """One outlet with three pages (plain, gzip-compressed windows-1251, large) -> warehouse;
    returns {path: (n_bytes, html)} of doc_html and checks every article was stored."""
    routes = {
        "/a/small": lambda h: send(h, 200, SMALL),
        "/a/legacy": lambda h: send(h, 200, gzip.compress(LEGACY),
                                    ctype="text/html; charset=windows-1251",
                                    headers={"Content-Encoding": "gzip"}),
        "/a/large": lambda h: send(h, 200, LARGE),
    }
    with FaultServer(routes) as srv:
        srv.routes["/rss.xml"] = lambda h: send(h, 200, f.rss(srv.base, "/a/small", "/a/legacy",
                                                               "/a/large"), "application/rss+xml")
        source = Source(key="raw", name="Raw", feeds=(srv.base + "/rss.xml",))
        fetch = FetchSettings(allowed_private_hosts=(srv.base.removeprefix("http://"),),
                              timeout=5, host_delay=0, retries=0)
        settings = Settings(path=Path("t.toml"), sources=(source,), fetch=fetch,
                            storage=storage)
        with make_client(fetch) as client:
            harvest = harvest_source(client, source, settings, lambda urls: set())
    assert harvest.error is None and len(harvest.articles) == 3
    con = connect(db)
    run_id = store.start_run(con, "ingest")
    summary = store.store_harvest(con, harvest, run_id, 0.5, 4)
    assert summary.new_articles == 3
    rows = con.execute("SELECT d.url, h.n_bytes, h.html FROM doc_html h JOIN doc d "
                       "ON d.id = h.doc_id").fetchall()
    assert con.execute("SELECT count(*) FROM doc WHERE NOT is_seed").fetchone() == (3,)
    con.close()
    return {url.split("/", 3)[3]: (n, html) for url, n, html in rows}


def test_raw_html_is_not_kept_by_default(db_path: Path) -> None:
    defaults = parse_settings('[[sources]]\nkey = "aa"\nname = "A"\nfeeds = ["https://a.org/f"]',
                              Path("s.toml")).storage
    assert defaults == StorageSettings() and defaults.keep_raw_html is False
    assert _harvest_and_store(db_path, defaults) == {}


def test_kept_byte_for_byte_and_over_the_cap_only_the_size(db_path: Path) -> None:
    assert len(SMALL) < CAP < len(LARGE) and len(LEGACY) < CAP
    kept = _harvest_and_store(db_path, StorageSettings(keep_raw_html=True,
                                                       raw_html_max_bytes=CAP))
    assert set(kept) == {"a/small", "a/legacy", "a/large"}
    assert kept["a/small"] == (len(SMALL), SMALL)
    # as received: gzip undone, still windows-1251 (not re-encoded), while the text is decoded
    assert kept["a/legacy"] == (len(LEGACY), LEGACY) and LEGACY.decode("windows-1251")
    assert kept["a/large"] == (len(LARGE), None)
    con = connect(db_path, read_only=True)
    text = con.execute("SELECT text FROM articles WHERE url LIKE '%/a/legacy'").fetchone()
    assert text is not None and f.RU_PHRASE in text[0]
    con.close()


def test_raw_html_is_written_with_its_article_or_not_at_all(db_path: Path) -> None:
    art = replace(article("Entry ban", "Russia extended the entry ban. " * 20),
                  raw_html=kept_html(b"<html>\xff raw</html>", True, 100))
    con = connect(db_path)
    with pytest.raises(RuntimeError), transaction(con):
        store.insert_article(con, art, None, 0.5, 4)
        assert con.execute("SELECT count(*) FROM doc_html").fetchone() == (1,)
        raise RuntimeError("crash before commit")
    assert con.execute("SELECT (SELECT count(*) FROM doc), (SELECT count(*) FROM doc_html)"
                       ).fetchone() == (0, 0)
    with transaction(con):
        stored = store.insert_article(con, art, None, 0.5, 4)
    assert stored is not None
    assert con.execute("SELECT html FROM doc_html WHERE doc_id = ?", [stored.id]).fetchone() == (
        b"<html>\xff raw</html>",)
    con.close()


def test_old_raw_html_is_pruned_and_the_articles_stay(db_path: Path) -> None:
    _harvest_and_store(db_path, StorageSettings(keep_raw_html=True, raw_html_max_bytes=CAP))
    con = connect(db_path)
    con.execute("UPDATE doc_html SET kept_at = now() - INTERVAL 40 DAY WHERE n_bytes = ?",
                [len(SMALL)])
    assert store.prune_raw_html(con, 30) == 1
    assert store.prune_raw_html(con, 30) == 0
    assert con.execute("SELECT count(*) FROM doc_html").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM doc WHERE NOT is_seed").fetchone() == (3,)
    con.close()


@pytest.mark.parametrize(("body", "message"), [
    ("raw_html_max_bytes = 0", "must be > 0"),
    ("keep_raw_html = 1", "expected bool"),
    ("raw_html_max_age_days = -3", "must be > 0"),
    ("keep_html = true", "unknown key"),
])
def test_storage_settings_are_checked(body: str, message: str) -> None:
    text = f'[storage]\n{body}\n[[sources]]\nkey = "aa"\nname = "A"\nfeeds = ["https://a.org/f"]'
    with pytest.raises(ConfigError, match=message):
        parse_settings(text, Path("s.toml"))
