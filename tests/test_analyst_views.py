"""The analyst views on a small real warehouse: copies counted once, clusters, cluster_id."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from tests.helpers import article, memory_warehouse
from warehouse import store

BAN = ("Russia has lifted entry bans on 4,200 Tajik migrants after talks in Moscow, the "
       "Tajik labour ministry said on Tuesday. Most had received a re-entry ban for minor "
       "offences such as overstaying their registration. The ministry urged migrants to check "
       "the database before travelling. ")


def test_copies_share_a_cluster_and_are_counted_once(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    original = article("Entry bans lifted for 4,200 Tajiks", BAN * 2, "https://a.org/1", "aaa")
    copy = article("Russia lifts entry bans", "Menu | News\n" + BAN * 2 + "\nSubscribe",
                   "https://b.org/9", "bbb")
    other = article("Smoking ban in cafes", "Dushanbe banned smoking in cafes and parks, the "
                    "city said. Fines start at 200 somoni for the first offence. " * 4,
                    "https://a.org/2", "aaa")
    store.store_seeds(con, [original, copy, other], 0.5, 4)
    rows = con.execute("SELECT id, duplicate_of, cluster_id FROM articles ORDER BY id").fetchall()
    assert rows == [(1, None, 1), (2, 1, 1), (3, None, 3)]

    clusters = con.execute("SELECT cluster_id, first_source, size, outlets FROM clusters "
                           "ORDER BY cluster_id").fetchall()
    assert clusters == [(1, "aaa", 2, ["aaa", "bbb"]), (3, "aaa", 1, ["aaa"])]

    daily = con.execute("SELECT topic, lang, source, articles FROM topic_daily").fetchall()
    assert daily == [("entry_bans", "en", "aaa", 1)]


def test_the_first_report_is_the_copy_published_first_not_the_one_stored_first(
        tmp_path: Path) -> None:
    """Outlets are stored in a fixed order within a run, so the original (stored first) may
    be published later than its copy: who reported first is read from publication times."""
    con = memory_warehouse(tmp_path)
    late = replace(article("Entry bans lifted for 4,200 Tajiks", BAN * 2, "https://a.org/1",
                           "aaa"), published_at=datetime(2026, 11, 12, 10, tzinfo=UTC))
    early = replace(article("Russia lifts entry bans", BAN * 2 + " More soon.",
                            "https://b.org/9", "bbb"),
                    published_at=datetime(2026, 11, 12, 8, tzinfo=UTC))
    undated = article("Entry bans lifted", BAN * 2 + " Read more.", "https://c.org/3", "ccc")
    seed = replace(article("Smoking ban in cafes", "Dushanbe banned smoking in cafes. " * 8,
                           "seed:x", "seed"), is_seed=True)
    store.store_seeds(con, [late, early, undated, seed], 0.5, 4)
    assert con.execute("SELECT id, duplicate_of FROM doc ORDER BY id").fetchall() == [
        (1, None), (2, 1), (3, 1), (4, None)]
    rows = con.execute("SELECT cluster_id, first_id, first_source, first_published, size, "
                       "outlets FROM clusters ORDER BY cluster_id").fetchall()
    assert rows == [(1, 2, "bbb", datetime(2026, 11, 12, 8, tzinfo=UTC), 3,
                     ["aaa", "bbb", "ccc"]),
                    (4, 4, "seed", None, 1, [])]


def test_a_story_whose_original_is_a_seed_counts_once_as_its_first_copy(
        tmp_path: Path) -> None:
    """A seed is never news, but an outlet carrying a seed's text is: the first copy stored
    stands for the story (is_lead), in topic_daily and in the README's query 1."""
    con = memory_warehouse(tmp_path)
    seed = replace(article("Entry bans lifted for 4,200 Tajiks", BAN * 2, "seed:x", "seed"),
                   is_seed=True)
    store.store_seeds(con, [seed], 0.5, 4)
    first = article("Russia lifts entry bans", BAN * 2 + " More soon.", "https://b.org/9", "bbb")
    second = article("Entry bans lifted", BAN * 2 + " Read more.", "https://c.org/3", "ccc")
    store.store_seeds(con, [first, second], 0.5, 4)   # stored as fetched: not seeds
    assert con.execute("SELECT id, source, duplicate_of, is_lead FROM articles ORDER BY id"
                       ).fetchall() == [(1, "seed", None, False), (2, "bbb", 1, True),
                                        (3, "ccc", 1, False)]
    assert con.execute("SELECT topic, source, articles FROM topic_daily").fetchall() == [
        ("entry_bans", "bbb", 1)]


def test_topic_daily_days_do_not_move_with_the_session_time_zone(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    late = replace(article("Entry bans lifted for 4,200 Tajiks", BAN * 2, "https://a.org/1",
                           "aaa"), published_at=datetime(2026, 12, 3, 2, tzinfo=UTC))
    store.store_seeds(con, [late], 0.5, 4)
    days = []
    for zone in ("UTC", "America/New_York", "Asia/Dushanbe"):
        con.execute(f"SET TimeZone = '{zone}'")
        days.append(con.execute("SELECT day FROM topic_daily").fetchall())
    assert days == [[(date(2026, 12, 3),)]] * 3


def test_fetched_at_is_when_the_writer_stored_the_article_not_when_it_was_built(
        tmp_path: Path) -> None:
    """A digest composed while a run's articles wait for the writer starts the next digest's
    window after them: stamped when built, they were never in any digest."""
    con = memory_warehouse(tmp_path)
    built = article("Entry bans lifted for 4,200 Tajiks", BAN * 2, "https://a.org/1", "aaa")
    time.sleep(0.05)    # the digest of this moment is composed here
    composed = datetime.now(UTC)
    store.store_seeds(con, [built], 0.5, 4)
    [(fetched_at,)] = con.execute("SELECT fetched_at FROM articles").fetchall()
    assert fetched_at >= composed


REFERENCE_CLUSTERS = """
    WITH members AS (
        SELECT coalesce(translation_of, duplicate_of, id) AS cluster_id,
               arg_min(id, (published_at IS NULL, coalesce(published_at, fetched_at), id))
                   AS first_id,
               count(*) AS size,
               coalesce(list(DISTINCT source ORDER BY source) FILTER (WHERE NOT is_seed), [])
                   AS outlets,
               max(fetched_at) AS last_seen,
               coalesce(list(DISTINCT lang ORDER BY lang) FILTER (WHERE NOT is_seed), [])
                   AS langs
        FROM doc GROUP BY ALL)
    SELECT m.cluster_id, m.first_id, f.title, f.source, f.url, f.published_at, m.size,
           m.outlets, m.last_seen, m.langs
    FROM members m JOIN doc f ON f.id = m.first_id"""


def test_clusters_is_every_story_grouped_whole(tmp_path: Path) -> None:
    """The view groups only stories of several documents and passes lone ones through: the
    same rows as grouping every document, on a warehouse of lone articles, seeds, copies,
    translations and copies of translations, some undated."""
    con = memory_warehouse(tmp_path)
    con.execute("""
        INSERT INTO doc (id, source, url, canonical_url, title, author, published_at,
                         fetched_at, lang, lang_confidence, text, text_hash, n_words, is_seed,
                         duplicate_of, similarity, run_id, translation_of)
        SELECT i, if(i < 5, 'seed', 'outlet' || (i % 7)), 'https://x.example/' || i,
               'https://x.example/' || i, 'story ' || i, NULL,
               if(i % 11 = 0, NULL, TIMESTAMPTZ '2026-01-01 00:00:00+00'
                   + to_hours((hash(i, 'p') % 5000)::BIGINT)),
               TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_hours(i), ['en', 'ru', 'tg'][1 + i % 3],
               0.9, 'text ' || i, md5('text ' || i), 2, i < 5,
               if(i >= 5 AND i % 4 = 1, (hash(i, 'd') % i)::BIGINT, NULL), NULL, 'r',
               if(i >= 5 AND i % 4 = 2, (hash(i, 't') % i)::BIGINT, NULL)
        FROM range(1, 600) r(i)""")
    groups = con.execute("SELECT count(*) FILTER (WHERE size > 1), count(*) FILTER "
                         "(WHERE size = 1) FROM clusters").fetchone()
    assert groups is not None and groups[0] > 50 and groups[1] > 100   # both kinds are there
    for a, b in (("clusters", f"({REFERENCE_CLUSTERS})"), (f"({REFERENCE_CLUSTERS})", "clusters")):
        extra = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL "
                            f"SELECT * FROM {b})").fetchone()
        assert extra == (0,), (a, b)
