-- Undated sitemaps beyond [fetch] max_sitemaps are asked in turn (flows/stages/rotation.py).

-- When each sitemap an index lists was last asked, per outlet: the rotation asks those never
-- asked, then those asked longest ago. Kept only for outlets whose indexes list more sitemaps
-- than a run asks; a sitemap no longer listed is forgotten. URLs keyed as in feed_state
-- (the masked URL and a hash when it carries secrets).
CREATE TABLE sitemap_asked (
    source    VARCHAR NOT NULL,
    url       VARCHAR NOT NULL,        -- the sitemap
    index_url VARCHAR NOT NULL,        -- the index that listed it when it was asked
    asked_at  TIMESTAMPTZ NOT NULL
);

-- Which of an index's sitemaps carried a <lastmod> (asked newest first, every run, while the
-- undated ones beyond the index's first few take turns): needed when the index answers 304.
ALTER TABLE sitemap_child ADD COLUMN dated BOOLEAN NOT NULL DEFAULT false;
-- Lists remembered before this do not say it: forgotten with their index's validators, each
-- index is read in full once more on the next run.
DELETE FROM feed_state WHERE url IN (SELECT index_url FROM sitemap_child);
DELETE FROM sitemap_child;
