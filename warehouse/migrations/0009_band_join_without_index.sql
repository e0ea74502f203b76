-- Near-duplicate candidates are found by one join per batch (warehouse/sql/dedup_candidates.sql)
-- instead of per-article index lookups: DuckDB holds an ART index whole in memory once used,
-- about 3.5 KB per stored article for this one, so the writer's memory grew with the warehouse.
DROP INDEX doc_band_hash;
