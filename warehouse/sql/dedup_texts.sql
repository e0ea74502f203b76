-- The text and copy-cluster root of near-duplicate candidates. {ids}: a literal list of
-- document ids (integers) formatted in by warehouse/copies.py. Why literal: DuckDB then
-- filters the scan by id (primary-key index) where a list parameter became a join that read
-- every stored text.
SELECT id, text, coalesce(duplicate_of, id) AS root
FROM doc
WHERE id IN ({ids});
