-- A re-banding in progress (warehouse/bands.py): the scheme and shingle size it computes and
-- the last document id done. Each range of ids is re-banded in its own transaction, so that
-- analysts are never locked out for longer than one range; a run that stops midway resumes
-- from here. The row is deleted when band_scheme records the finished re-banding.
CREATE TABLE band_rebuild (
    scheme        VARCHAR NOT NULL,
    shingle_size  INTEGER NOT NULL,
    through_id    BIGINT NOT NULL,
    high_id       BIGINT NOT NULL            -- the last document id to re-band
);
