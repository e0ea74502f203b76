-- Documents sharing at least one LSH band with a new document, with their text for the exact
-- comparison and the root of their copy cluster. Parameters: $bands UBIGINT[] (band hashes in
-- band order). Cost: one index probe per band, independent of the number of stored documents.
WITH probe AS (
    SELECT (generate_subscripts($bands::UBIGINT[], 1) - 1)::SMALLINT AS band,
           unnest($bands::UBIGINT[]) AS hash
), hits AS (
    SELECT b.doc_id, count(*) AS shared
    FROM doc_band b JOIN probe p ON b.band = p.band AND b.hash = p.hash
    GROUP BY b.doc_id
)
SELECT d.id, d.text, coalesce(d.duplicate_of, d.id) AS root, h.shared
FROM hits h JOIN doc d ON d.id = h.doc_id
ORDER BY h.shared DESC
LIMIT 50;
