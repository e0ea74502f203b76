-- Stored documents sharing LSH bands with the articles of one batch: (item, doc_id, shared).
-- $items, $bands, $hashes: aligned lists, one entry per band of each new article (item = its
-- position in the batch). One hash join: the batch's band rows are the small build side and
-- doc_band is scanned once per batch, without an index. Why no index: DuckDB loads a whole
-- ART index into memory on first use (about 3.5 KB per stored article for 42 bands), so an
-- indexed lookup would make the writer's memory grow with the warehouse; the scan reads about
-- a billion band rows a second and is shared by every article of the batch.
WITH probe AS (
    SELECT unnest($items::INTEGER[]) AS item, unnest($bands::SMALLINT[]) AS band,
           unnest($hashes::UBIGINT[]) AS hash
)
SELECT p.item, b.doc_id, count(*) AS shared
FROM probe p
JOIN doc_band b ON b.hash = p.hash AND b.band = p.band
GROUP BY p.item, b.doc_id;
