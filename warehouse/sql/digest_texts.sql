-- The texts of the articles a run's digests show (digest_candidates.sql's first_id of the
-- rows selected): id, text. Read apart from the candidates, which may span months for a
-- channel whose last digest is that old. Parameters: $ids BIGINT[].
SELECT id, text
FROM doc
WHERE id IN (SELECT unnest($ids::BIGINT[]));
