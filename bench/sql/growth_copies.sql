-- Copies among documents $lo..$hi (ids): ids ending in 3 or 7 copy the original of their
-- hundred (id rounded down to a multiple of 100) when that original is in the same range, as
-- the real path would record them (a copy always names an original, never another copy).
UPDATE doc SET duplicate_of = id - id % 100, similarity = 0.9
WHERE id BETWEEN $lo AND $hi AND id % 10 IN (3, 7) AND id - id % 100 >= $lo;
