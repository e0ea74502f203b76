-- The scheme and shingle size of the stored bands (warehouse/bands.py): the latest row.
SELECT scheme, shingle_size FROM band_scheme ORDER BY set_at DESC LIMIT 1
