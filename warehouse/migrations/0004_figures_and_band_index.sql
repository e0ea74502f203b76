-- Numeric claims extracted from article text (flows/stages/figures.py), one row per figure.
-- Written with the article in the same transaction; `migwatch retag` re-extracts them all.
CREATE TABLE figure (
    doc_id      BIGINT NOT NULL,
    seq         INTEGER NOT NULL,          -- order within the document
    value       DOUBLE NOT NULL,           -- normalised: "245 thousand" -> 245000
    value_high  DOUBLE,                    -- upper end of a range ("500,000-600,000")
    unit        VARCHAR NOT NULL,          -- people | percent | USD | RUB | TJS | EUR
    counted     VARCHAR,                   -- deported | banned | remittances | legalised | ...
    year        INTEGER,                   -- year the figure refers to, when stated
    raw         VARCHAR NOT NULL,          -- the matched text
    sentence    VARCHAR NOT NULL,
    PRIMARY KEY (doc_id, seq)
);

-- The near-duplicate candidate search looks band hashes up with `hash = ANY(...)`: an index
-- scan, whose cost does not grow with the table (a join against (band, hash) scanned it all).
CREATE INDEX doc_band_hash ON doc_band (hash);
