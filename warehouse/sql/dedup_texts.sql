-- Near-duplicate candidates (stored documents): text, copy-cluster root and the root's place
-- in "earliest first" order. {ids}: a literal list of document ids (integers) formatted in
-- by warehouse/copies.py. Why literal: DuckDB then filters the scan by id (primary-key
-- index) where a list parameter became a join that read every stored text.
SELECT d.id, d.text, r.id AS root, r.is_seed, coalesce(r.published_at, r.fetched_at) AS at
FROM doc d
JOIN doc r ON r.id = coalesce(d.duplicate_of, d.id)
WHERE d.id IN ({ids});
