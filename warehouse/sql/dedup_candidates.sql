-- Stored band rows sharing a hash with a new document: (doc_id, band, hash); the caller keeps
-- those whose band matches too and ranks documents by bands shared.
-- {hashes}: the new document's 42 band hashes as a literal list of integers, formatted in by
-- warehouse/store.py from integers it computed. Why literal: DuckDB answers `hash IN (1, 2,
-- ...)` from the doc_band_hash index (about 1 ms at 4 million rows, also inside a transaction
-- that has inserted rows), where a parameter (`= ANY($list)`) or a join falls back to a scan
-- whose cost grows with the stored documents.
SELECT doc_id, band, hash FROM doc_band WHERE hash IN ({hashes});
