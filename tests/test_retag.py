"""`migwatch retag` after a rule change: history re-tagged, changes reported per topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import RULES, article, memory_warehouse
from warehouse import store
from warehouse.db import connect


def test_a_rule_change_retags_history_and_reports_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    con = memory_warehouse(tmp_path)
    arts = [article("Russia lifts entry bans on 4,200 Tajiks", "Officials said the entry bans "
                    "on Tajik citizens were lifted. " * 3, "https://e.org/1"),
            article("Migrants barred from returning", "Thousands of Tajik migrants are barred "
                    "from returning; the barred migrants were told at the border. " * 3,
                    "https://e.org/2"),
            article("Remittances fall", "Remittances from Tajik migrants fell by a tenth. " * 3,
                    "https://e.org/3")]
    store.store_seeds(con, arts, 0.8, 4)
    before = con.execute("SELECT doc_id, topic FROM doc_topic ORDER BY 1, 2").fetchall()
    assert before == [(1, "entry_bans"), (3, "remittances")]
    con.execute("DELETE FROM figure")   # as if stored before figures were extracted
    con.close()

    # the change: "barred" becomes an entry-ban term, remittances need "remittances from Russia"
    rules = RULES.replace('"banned from entering"', '"banned from entering", "barred"')
    rules = rules.replace('context = { en = ["migrant*", "tajik*"] }',
                          'context = { en = ["from russia"] }')
    (tmp_path / "rules.toml").write_text(rules, encoding="utf-8")
    config = tmp_path / "sources.toml"
    config.write_text('[topics]\nrules = "rules.toml"\n\n[[sources]]\nkey = "xx"\nname = "X"\n'
                      'feeds = ["https://example.org/rss"]\n', encoding="utf-8")
    assert main(["retag", "--db", str(tmp_path / "w.duckdb"), "--config", str(config)]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["entry_bans"] == ["1", "2", "1", "0"]      # before, after, added, removed
    assert rows["remittances"] == ["1", "0", "0", "1"]
    con = connect(tmp_path / "w.duckdb")
    after = con.execute("SELECT article_id, topic FROM article_topics ORDER BY 1, 2").fetchall()
    assert after == [(1, "entry_bans"), (2, "entry_bans")]
    # the pass also backfills the figures of articles stored without them
    assert con.execute("SELECT value, unit FROM figures WHERE article_id = 1").fetchall() == [
        (4200.0, "people")]
