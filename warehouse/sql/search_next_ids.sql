-- The next documents the phrase-search index has not read, in id order, with the storage row
-- of each (ids only: cheap; their texts are read next by that row range).
SELECT id, rowid FROM doc WHERE id > $after ORDER BY id LIMIT $n
