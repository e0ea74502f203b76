-- How the stored LSH bands (doc_band) were made: the MinHash scheme's name
-- (flows/stages/dedup.py SCHEME) and the shingle size, one row each time the bands are
-- (re)computed, the latest row in force. No row: bands from before this table, made with
-- datasketch's SHA-1 scheme. Ingest re-bands every document before storing when the latest
-- row differs from what it computes (warehouse/bands.py): copies are only found between
-- bands made the same way.
CREATE TABLE band_scheme (
    scheme        VARCHAR NOT NULL,
    shingle_size  INTEGER NOT NULL,
    n_docs        BIGINT NOT NULL,           -- documents (re)banded then
    set_at        TIMESTAMPTZ NOT NULL
);
