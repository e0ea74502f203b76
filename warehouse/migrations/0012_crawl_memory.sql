-- Issue 8: more of what a polite crawler remembers between runs (see 0002_crawl_state).

-- The sitemaps each sitemap index listed when it was last read in full. When the index then
-- answers 304 (not modified), these are still asked, each with its own validators
-- (feed_state), so a child sitemap that changed behind an unchanged index is read. Kept only
-- for an index that has validators (feed_state row): one without them is always read in full.
CREATE TABLE sitemap_child (
    index_url VARCHAR NOT NULL,
    position  INTEGER NOT NULL,      -- order in the index
    child_url VARCHAR NOT NULL
);
-- Validators stored before this table existed do not say which sitemaps are indexes: an
-- index among them would answer 304 with no children known, for as long as it is unchanged.
-- Forgotten, they cost each feed and sitemap one full read on the next run.
DELETE FROM feed_state;

-- robots.txt per origin, as last fetched: used instead of fetching it again while younger
-- than [fetch] robots_max_age_hours (RFC 9309 2.4: at most 24 hours). Only lasting answers:
-- a file (2xx) or none (4xx, text NULL: everything allowed); 5xx and unreachable hosts are
-- asked again by the next run.
CREATE TABLE robots_txt (
    origin      VARCHAR PRIMARY KEY,   -- scheme://host[:port]
    http_status INTEGER NOT NULL,
    text        VARCHAR,
    fetched_at  TIMESTAMPTZ NOT NULL
);
