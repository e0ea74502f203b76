-- Raw HTML of stored articles (issue 8), kept only with `[storage] keep_raw_html = true`.
-- One row per article fetched while it was on, written in the article's own transaction.
-- `html` is the page byte for byte as received (Content-Encoding undone, charset not decoded);
-- NULL when the page was larger than `raw_html_max_bytes`: `n_bytes` then says how large.
-- No row: the setting was off, the document is a seed, or the row was pruned by age.
CREATE TABLE doc_html (
    doc_id  BIGINT PRIMARY KEY,
    n_bytes INTEGER NOT NULL,
    html    BLOB,
    kept_at TIMESTAMPTZ NOT NULL
);
