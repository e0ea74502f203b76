-- 42 LSH band keys per synthetic document $lo..$hi (ids), as random as real band keys.
INSERT INTO doc_band
SELECT (hash(id, b) >> 1)::UBIGINT, id
FROM doc, range(42) r(b)
WHERE id BETWEEN $lo AND $hi;
