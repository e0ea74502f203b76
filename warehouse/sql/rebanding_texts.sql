-- One range of documents to re-band (warehouse/bands.py): a range of ids reads each block
-- of compressed texts once.
SELECT id, text FROM doc WHERE id BETWEEN $low AND $high ORDER BY id
