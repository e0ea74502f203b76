-- Documents sharing at least one LSH band with a new document, with the number of bands
-- shared. Parameters: $bands UBIGINT[] (band hashes in band order). The `hash = ANY(...)`
-- filter is answered by the doc_band_hash index: its cost depends on the number of matching
-- rows, not on the number of stored documents (see bench/bench_dedup.py). The texts are then
-- read by id (primary key) in `dedup_texts.sql`.
WITH probe AS (
    SELECT (generate_subscripts($bands::UBIGINT[], 1) - 1)::SMALLINT AS band,
           unnest($bands::UBIGINT[]) AS hash
), found AS (
    SELECT band, hash, doc_id FROM doc_band WHERE hash = ANY($bands::UBIGINT[])
)
SELECT f.doc_id, count(*) AS shared
FROM found f JOIN probe p ON f.band = p.band AND f.hash = p.hash
GROUP BY f.doc_id
ORDER BY shared DESC, f.doc_id
LIMIT 50;
