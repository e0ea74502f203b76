"""Real Prefect flow runs against the bundled replica of six outlets on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import gc
import json
import re
import shutil
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from flows.digest import digest_flow
from flows.ingest import ingest_flow
from flows.replica.server import SITE, ReplicaServer, demo_config
from tests.conftest import dead_port
from tests.helpers import task_runs
from warehouse.db import connect

pytestmark = pytest.mark.usefixtures("prefect_harness")
EXPECTED: dict[str, dict] = json.loads((SITE.parent / "expected.json").read_text("utf-8"))


def _path(url: str) -> str:
    return url.split("/", 3)[3].split("?")[0]


def _articles(db: Path) -> dict[str, dict]:
    con = connect(db, read_only=True)
    rows = con.execute(
        "SELECT a.id, a.url, a.lang, a.duplicate_of, o.url, o.is_seed, o.canonical_url, "
        "(SELECT list(topic ORDER BY topic) FROM article_topics t WHERE t.article_id = a.id), "
        "a.cluster_id FROM articles a LEFT JOIN articles o ON o.id = a.duplicate_of "
        "WHERE NOT a.is_seed"
    ).fetchall()
    con.close()
    out = {}
    for _id, url, lang, dup, dup_url, dup_seed, dup_canon, topics, story in rows:
        original = None
        if dup is not None:
            original = dup_canon.replace("seed:", "seed:", 1) if dup_seed else _path(dup_url)
        out[_path(url)] = {"lang": lang, "duplicate_of": original, "topics": topics or [],
                           "story": story}
    return out


def test_ingest_stores_every_replica_article_as_a_reader_would_tag_it(
        demo_cfg: Path, db_path: Path, replica: ReplicaServer) -> None:
    report = ingest_flow(str(demo_cfg), str(db_path))
    assert report.status == "ok" and report.seeds_loaded == 5
    stored = _articles(db_path)
    assert set(stored) == set(EXPECTED)            # the twice-announced article stored once
    assert {a["lang"] for a in stored.values()} == {"en", "ru", "tg"}
    mismatches = {}
    for path, want in EXPECTED.items():
        got = stored[path]
        # a version in another language: one story with the page it translates, whichever
        # of the two was stored first (outlets are stored as they finish)
        apart = "translates" in want and got["story"] != stored[want["translates"]]["story"]
        if got["lang"] != want["lang"] or got["duplicate_of"] != want["duplicate_of"] or \
                sorted(got["topics"]) != sorted(want["topics"]) or apart:
            mismatches[path] = (got, want)
    assert not mismatches, json.dumps(mismatches, indent=1, ensure_ascii=False)
    assert any(w["duplicate_of"] and w["duplicate_of"].startswith("seed:")
               for w in EXPECTED.values())
    assert any(w["duplicate_of"] and not w["duplicate_of"].startswith("seed:")
               for w in EXPECTED.values())
    assert any(not w["topics"] for w in EXPECTED.values())
    assert any("translates" in w for w in EXPECTED.values())   # one story in two languages


def test_a_second_run_fetches_no_page_again_and_inserts_nothing(
        demo_cfg: Path, db_path: Path, replica: ReplicaServer) -> None:
    first = ingest_flow(str(demo_cfg), str(db_path))
    pages = replica.article_hits()
    assert first.new_articles == len(EXPECTED) and pages == len(EXPECTED)
    second = ingest_flow(str(demo_cfg), str(db_path))
    assert second.new_articles == 0 and second.seeds_loaded == 0
    assert gc.get_freeze_count() == 0   # a run hands the heap back to the collector
    assert replica.article_hits() == pages
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT count(*) FROM articles WHERE NOT is_seed").fetchone() == (
        len(EXPECTED),)


def test_a_new_feed_item_is_picked_up_by_the_next_run(tmp_path: Path, db_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    with ReplicaServer(site) as srv:
        cfg = tmp_path / "s.toml"
        cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
        ingest_flow(str(cfg), str(db_path))
        page = site / "eurasianet" / "tajik-migrants-describe-beatings-in-yekaterinburg-raids.html"
        new_page = page.with_name("a-new-story.html")
        # A new story has its own <link rel="canonical">: the copy must not keep the original's.
        new_page.write_text(page.read_text("utf-8").replace(
            "Yekaterinburg", "Novosibirsk").replace("police", "riot police officers").replace(
            "tajik-migrants-describe-beatings-in-yekaterinburg-raids", "a-new-story"), "utf-8")
        feed = site / "eurasianet" / "rss.xml"
        feed.write_text(feed.read_text("utf-8").replace(
            "<item>", "<item><title>New story</title>"
            "<link>{{BASE}}/eurasianet/a-new-story.html</link></item><item>", 1), "utf-8")
        report = ingest_flow(str(cfg), str(db_path))
        assert report.new_articles == 1
        assert srv.hits["/eurasianet/a-new-story.html"] == 1


def test_a_dead_outlet_is_recorded_and_the_others_are_stored(demo_cfg: Path, db_path: Path
                                                             ) -> None:
    port = dead_port()
    with demo_cfg.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[[sources]]\nkey = "dead"\nname = "Dead outlet"\n'
                 f'feeds = ["http://127.0.0.1:{port}/rss.xml"]\n')
    report = ingest_flow(str(demo_cfg), str(db_path))
    assert report.status == "partial" and report.exit_code == 3
    assert report.new_articles == len(EXPECTED)
    con = connect(db_path, read_only=True)
    row = con.execute("SELECT last_ok, consecutive_failures, last_error FROM outlet_health "
                      "WHERE source = 'dead'").fetchone()
    assert row is not None and row[0] is False and row[1] == 1
    assert "connection failed" in row[2] and str(port) in row[2]
    ok = con.execute("SELECT count(*) FROM outlet_health WHERE last_ok").fetchone()
    assert ok == (6,)
    outcome = con.execute("SELECT outcome, reason FROM fetches WHERE source = 'dead'").fetchone()
    assert outcome is not None and outcome[0] == "soft"


def test_a_run_of_outlets_with_few_new_articles_is_stored_in_one_transaction(
        demo_cfg: Path, db_path: Path) -> None:
    """The second outlet's feed answers 1.5 s late, when the first has long been harvested:
    the writer waits for it (and then the rest) rather than opening the warehouse for the
    first outlet's few articles alone (flows/ingest.py STORE_AT_LEAST)."""
    from tests.faultserver import FaultServer, send

    def late_feed(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.5)
        send(h, 200, b'<?xml version="1.0"?><rss version="2.0"><channel><title>Late</title>'
                     b"</channel></rss>", "application/rss+xml")

    with FaultServer({"/rss.xml": late_feed}) as srv:
        text = demo_cfg.read_text(encoding="utf-8")
        second = text.index("[[sources]]", text.index("[[sources]]") + 1)
        demo_cfg.write_text(text[:second] + f'[[sources]]\nkey = "late"\nname = "Late outlet"\n'
                            f'feeds = ["{srv.base}/rss.xml"]\n\n' + text[second:], "utf-8")
        state = ingest_flow(str(demo_cfg), str(db_path), return_state=True)
    report = state.result()
    assert report.status == "ok" and report.new_articles == len(EXPECTED)
    assert [s.source for s in report.sources][:2] == ["asiaplus_en", "late"]
    assert len(task_runs("store_harvests", state.state_details.flow_run_id)) == 1


def test_digest_after_ingest(demo_cfg: Path, db_path: Path, tmp_path: Path) -> None:
    ingest_flow(str(demo_cfg), str(db_path))
    results = digest_flow(str(demo_cfg), str(db_path))
    assert len(results) == 1 and results[0].error is None and results[0].location
    msg = email.message_from_bytes(Path(results[0].location).read_bytes(),
                                   policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    # each story once, as its original, or as the first copy of a seed (seeds are not news);
    # a version in another language only as the story's "Also in" link
    originals = {p for p, w in EXPECTED.items() if w["topics"] and (
        not w["duplicate_of"] or w["duplicate_of"].startswith("seed:"))
        and "translates" not in w}
    versions = {p: w for p, w in EXPECTED.items() if "translates" in w}
    for path in EXPECTED:
        assert html.count(path) == (1 if path in originals or path in versions else 0), path
    for path, w in versions.items():
        assert re.search(rf'Also in <a href="[^"]*{re.escape(path)}"[^>]*>English</a>', html)
        assert w["translates"] in originals   # shown as the first report
    assert "Also reported by Fergana" in html
    assert digest_flow(str(demo_cfg), str(db_path))[0].n_items == 0


def test_a_digest_run_that_fails_is_recorded_as_failed(demo_cfg: Path, db_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Not left 'running' (shown as 'interrupted' only once a later digest ran)."""
    import flows.digest

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    connect(db_path).close()
    monkeypatch.setattr(flows.digest, "run_digests", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        digest_flow(str(demo_cfg), str(db_path))
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT status, summary->>'error' FROM runs WHERE flow = 'digest'"
                       ).fetchall() == [("failed", "RuntimeError: disk full")]
    con.close()


def test_an_ingest_run_that_fails_is_recorded_as_failed(demo_cfg: Path, db_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.ingest

    def broken(*_args: object) -> None:
        raise RuntimeError("writer bug")

    monkeypatch.setattr(flows.ingest, "_harvest_and_store", broken)
    with pytest.raises(RuntimeError, match="writer bug"):
        ingest_flow(str(demo_cfg), str(db_path))
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT status, summary->>'error' FROM runs WHERE flow = 'ingest'"
                       ).fetchall() == [("failed", "RuntimeError: writer bug")]
    con.close()
