-- The text and copy-cluster root of near-duplicate candidates. {ids}: a literal list of
-- document ids (integers) formatted in by warehouse/store.py, so that DuckDB answers it from
-- the primary-key index (see dedup_candidates.sql for why literal).
SELECT id, text, coalesce(duplicate_of, id) AS root
FROM doc
WHERE id IN ({ids});
