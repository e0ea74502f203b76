-- The canonical URL of a feed link that led to a stored document whose own canonical URL
-- (its <link rel=canonical>, flows/stages/page.py page_canonical) differs: `?from=rss` links
-- the canonical form keeps, short links, another path to the same story. known_urls consults
-- it, so such a page is not fetched and built again every run. Written with the article, in
-- the same transaction (warehouse/store.py insert_articles), also when the document was
-- stored before and the article is dropped as its URL copy. First link wins: an alias is
-- never moved to another document.
CREATE TABLE url_alias (
    canonical_url VARCHAR PRIMARY KEY,   -- the feed link's canonical URL
    doc_id        BIGINT NOT NULL        -- doc.id of the stored document it led to
);
