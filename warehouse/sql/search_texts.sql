-- Titles and texts of the documents in a range of storage rows, for the phrase-search index.
-- By rowid, not id: see warehouse/sql/dedup_texts_range.sql.
SELECT id, coalesce(title, ''), text, text_hash FROM doc WHERE rowid BETWEEN $lo AND $hi
