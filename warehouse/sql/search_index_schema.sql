-- SQLite, not DuckDB: the phrase-search index beside the warehouse (warehouse/search.py).
-- doc_words: contentless FTS5 (words and their positions, no texts), rowid = doc.id.
-- indexed: one row, how far the index has read the warehouse; `last_hash` is the text_hash of
-- doc `last_id`, which tells a warehouse restored from an older copy from the one indexed.
CREATE VIRTUAL TABLE IF NOT EXISTS doc_words USING fts5(
    title, text, content = '', tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS indexed (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    scheme    INTEGER NOT NULL,
    last_id   INTEGER NOT NULL,
    last_hash TEXT,
    documents INTEGER NOT NULL
);
