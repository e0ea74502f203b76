-- Stored documents whose normalised text is identical to a new article's: for each text hash,
-- the copy-cluster root of the first document stored with it, and the root's place in
-- "earliest first" order. $hashes: the batch's text hashes.
WITH hit AS (
    SELECT text_hash, arg_min(coalesce(duplicate_of, id), id) AS root
    FROM doc
    WHERE text_hash IN (SELECT unnest($hashes::VARCHAR[]))
    GROUP BY text_hash
)
SELECT h.text_hash, h.root, r.is_seed, coalesce(r.published_at, r.fetched_at) AS at
FROM hit h
JOIN doc r ON r.id = h.root;
