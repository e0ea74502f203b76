-- Stored documents sharing LSH bands with the articles of one batch: (item, doc_id, shared).
-- $items, $keys: aligned lists, one entry per band of each new article (item = its position
-- in the batch; key = band hash with the band number folded in, warehouse/copies.py).
-- {bands}: doc_band, or its rows inside the search window (warehouse/copies.py).
-- One hash join: the batch's keys are the small build side and the band rows are scanned
-- once per batch, without an index. Why no index: DuckDB loads a whole ART index into memory
-- on first use (about 3.5 KB per stored article for 42 bands), so an indexed lookup would
-- make the writer's memory grow with the warehouse; the scan reads about 300 million keys a
-- second and is shared by every article of the batch.
WITH probe AS (
    SELECT unnest($items::INTEGER[]) AS item, unnest($keys::UBIGINT[]) AS key
)
SELECT p.item, b.doc_id, count(*) AS shared
FROM probe p
JOIN {bands} b ON b.key = p.key
GROUP BY p.item, b.doc_id;
