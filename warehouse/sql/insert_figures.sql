-- New documents' figures in one statement (warehouse/store.py store_figures_of): one list
-- per column, aligned. executemany would cost about 0.3 ms a row.
INSERT INTO figure
SELECT unnest($doc_id::BIGINT[]), unnest($seq::INTEGER[]), unnest($value::DOUBLE[]),
       unnest($value_high::DOUBLE[]), unnest($unit::VARCHAR[]), unnest($counted::VARCHAR[]),
       unnest($year::INTEGER[]), unnest($raw::VARCHAR[]), unnest($sentence::VARCHAR[]);
