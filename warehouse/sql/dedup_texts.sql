-- The text and copy-cluster root of near-duplicate candidates. Parameters: $ids BIGINT[].
-- `id = ANY(...)` is a primary-key index lookup, not a scan of every stored text.
SELECT id, text, coalesce(duplicate_of, id) AS root
FROM doc
WHERE id = ANY($ids::BIGINT[]);
