-- Issue 3: what a polite crawler remembers between runs.

-- Conditional-GET validators per feed/sitemap/listing URL: the next request sends
-- If-None-Match / If-Modified-Since, and a 304 costs no parsing.
CREATE TABLE feed_state (
    url           VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,
    etag          VARCHAR,
    last_modified VARCHAR,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Operator settings the analyst views need (one row): failed runs in a row before an outlet
-- is flagged; written from [fetch] failing_after at the start of every ingest.
CREATE TABLE health_setting (
    failing_after INTEGER NOT NULL
);
INSERT INTO health_setting VALUES (3);
