"""The analyst views on a small real warehouse: copies counted once, clusters, cluster_id."""

from __future__ import annotations

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
