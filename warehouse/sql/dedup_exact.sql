-- Stored documents whose normalised text is identical to a new article's: for each text hash,
-- the copy-cluster root of the first document stored with it. $hashes: the batch's text hashes.
SELECT text_hash, arg_min(coalesce(duplicate_of, id), id) AS root
FROM doc
WHERE text_hash IN (SELECT unnest($hashes::VARCHAR[]))
GROUP BY text_hash;
