-- New documents' figures in one statement (warehouse/store.py store_figures): figure_batch
-- is the batch registered as a table (warehouse/db.py scanned). executemany would cost
-- about 0.3 ms a row.
INSERT INTO figure
SELECT doc_id::BIGINT, seq::INTEGER, value::DOUBLE, value_high::DOUBLE, unit::VARCHAR,
       counted::VARCHAR, year::INTEGER, raw::VARCHAR, sentence::VARCHAR
FROM figure_batch;
