"""Which stored story each new article of a batch translates — one story, several languages.

Outlets such as Asia-Plus, CABAR.asia, Ozodi and Eurasianet publish one story in Russian,
English and Tajik, and each page declares the others (`<link rel="alternate" hreflang>`,
Article.alternates). Their texts share no shingles, so the copy search cannot join them; the
declarations can. An article is a translation of a document stored before it (earlier in
the same batch included) when either page declares the other's canonical URL (a feed link
leading to a document counts as its URL too, url_alias): the pages of one story are fetched
in any order, and an outlet often links only one way, or a version appears a day later.

The new article then points at that document's story lead (`translation_of`), never at the
document itself when it is a copy or translation, so that a story keeps one lead whatever
order its versions and copies arrive in, and the lead never changes (rows are not updated:
the delivery log keys a story by its lead). Of several stories declared, the first stored
wins. A near-copy takes precedence: it stays in its text's copy cluster (`duplicate_of`) and
inherits that cluster's story; its own declarations are not followed. Two stories stored
before a page declared them both are not merged (that would move a lead); the page joins
the first.

Cost per batch: one statement for the declared URLs both ways, one for the leads of the
documents found and of the stored copy roots (literal ids: filtered by the primary key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import duckdb

from flows.stages.dedup import canonical_url
from flows.stages.models import Article
from warehouse.db import int_list, scanned, sql

ALTERNATE_COLUMNS = ("doc_id", "lang", "canonical_url")


def story_leads(con: duckdb.DuckDBPyConnection, batch: Sequence[Article], ids: Sequence[int],
                roots: Sequence[int | None]) -> list[int | None]:
    """`translation_of` of each article of `batch`, about to be stored as `ids` (in order),
    given its copy root (`roots`: warehouse/copies.py's original, None for no copy)."""
    own = [{art.canonical_url, canonical_url(art.url)} for art in batch]
    declared = sorted({url for art in batch for _lang, url in art.alternates})
    names: dict[str, list[int]] = defaultdict(list)        # declared URL -> stored docs
    declarers: dict[str, list[int]] = defaultdict(list)    # own URL -> stored docs declaring it
    for url, doc_id, kind in con.execute(sql("translation_partners"), {
            "declared": declared, "own": sorted(set().union(*own))}).fetchall():
        (names if kind == "declared" else declarers)[url].append(int(doc_id))
    in_batch = set(ids)
    stored = {d for found in (names, declarers) for docs in found.values() for d in docs}
    stored |= {r for r in roots if r is not None and r not in in_batch}
    lead: dict[int, int] = {}
    if stored:
        lead = {int(i): int(s) for i, s in con.execute(
            sql("story_leads").format(ids=int_list(sorted(stored)))).fetchall()}
    out: list[int | None] = []
    for art, doc_id, root, mine in zip(batch, ids, roots, own, strict=True):
        if root is not None:                  # a near-copy: its copy cluster's story
            story = lead.get(root, root)
        else:
            partners = [d for _lang, url in art.alternates for d in names.get(url, ())]
            partners += [d for url in mine for d in declarers.get(url, ())]
            story = min((lead[d] for d in partners if d in lead), default=doc_id)
        lead[doc_id] = story
        out.append(story if story not in (doc_id, root) else None)
        # later articles of the batch find this one as stored ones are found
        for url in mine:
            names[url].append(doc_id)
        for _lang, url in art.alternates:
            declarers[url].append(doc_id)
    return out


def insert_alternates(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, str, str]]
                      ) -> None:
    """The batch's declared versions, (doc_id, lang, canonical URL), in one statement."""
    if rows:
        with scanned(con, "alternate_batch", ALTERNATE_COLUMNS, rows):
            con.execute("INSERT INTO doc_alternate SELECT doc_id::BIGINT, lang::VARCHAR, "
                        "canonical_url::VARCHAR FROM alternate_batch ON CONFLICT DO NOTHING")
