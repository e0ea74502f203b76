-- The storage row (rowid) of each of the documents {ids} (a literal list of integers): ids
-- only, no text, so reading them through the primary key costs nothing.
SELECT id, rowid FROM doc WHERE id IN ({ids});
