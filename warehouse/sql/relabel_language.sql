-- `migwatch retag --language` (flows/retag.py): store the labels that changed when every
-- document's language was detected again. relabel_batch is the batch registered as a table
-- (warehouse/db.py scanned): id, before (the label it was read with), lang, lang_confidence.
-- A row is updated only while it still holds `before`; the caller compares the count of rows
-- updated with the batch and rolls the whole pass back when they differ.
UPDATE doc
SET lang = r.lang::VARCHAR, lang_confidence = r.lang_confidence::DOUBLE
FROM relabel_batch r
WHERE doc.id = r.id::BIGINT AND doc.lang = r.before::VARCHAR;
