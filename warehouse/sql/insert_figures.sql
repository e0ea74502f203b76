-- The figures of a batch of new documents in one statement (executemany costs ~0.3 ms a row
-- in DuckDB; one INSERT per document cost ~0.7 ms each). One list element per figure, the
-- lists of equal length, unnested together. Parameters: $id (doc_id), $seq (order within its
-- document, headline first), $v, $vh, $u, $c, $y, $r, $s (the figure table's columns).
INSERT INTO figure
SELECT unnest($id::BIGINT[]), unnest($seq::INTEGER[]), unnest($v::DOUBLE[]),
       unnest($vh::DOUBLE[]), unnest($u::VARCHAR[]), unnest($c::VARCHAR[]),
       unnest($y::INTEGER[]), unnest($r::VARCHAR[]), unnest($s::VARCHAR[]);
