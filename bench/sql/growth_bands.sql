-- 42 LSH band rows per synthetic document $lo..$hi (ids), as random as real band hashes.
INSERT INTO doc_band
SELECT b::SMALLINT, (hash(id, b) >> 1)::UBIGINT, id
FROM doc, range(42) r(b)
WHERE id BETWEEN $lo AND $hi;
