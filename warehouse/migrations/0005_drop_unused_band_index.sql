-- The candidate search uses doc_band_hash (0004); the (band, hash) index of 0001 is no longer
-- read, yet every insert maintained it and DuckDB keeps index nodes in memory: drop it.
DROP INDEX doc_band_lookup;
