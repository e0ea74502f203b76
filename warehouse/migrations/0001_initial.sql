-- Core tables. Analysts read the views in warehouse/views, not these tables.
CREATE SEQUENCE doc_id_seq START 1;

-- One row per stored document: fetched articles and seed documents.
CREATE TABLE doc (
    id              BIGINT PRIMARY KEY DEFAULT nextval('doc_id_seq'),
    source          VARCHAR NOT NULL,          -- sources.toml key, or 'seed'
    url             VARCHAR NOT NULL,          -- URL as first seen
    canonical_url   VARCHAR NOT NULL UNIQUE,   -- dedup key for URL copies
    title           VARCHAR,
    author          VARCHAR,
    published_at    TIMESTAMPTZ,
    fetched_at      TIMESTAMPTZ NOT NULL,
    lang            VARCHAR NOT NULL,          -- en, ru, tg, other ISO code, or und
    lang_confidence DOUBLE,
    text            VARCHAR NOT NULL,
    text_hash       VARCHAR NOT NULL,          -- hash of the normalised text
    n_words         INTEGER NOT NULL,
    is_seed         BOOLEAN NOT NULL DEFAULT false,
    duplicate_of    BIGINT,                    -- earliest stored copy, NULL if original
    similarity      DOUBLE,                    -- resemblance to duplicate_of
    run_id          VARCHAR
);
CREATE INDEX doc_text_hash ON doc (text_hash);

-- LSH bands of each document's MinHash signature: near-duplicate candidates by join.
CREATE TABLE doc_band (
    band    SMALLINT NOT NULL,
    hash    UBIGINT NOT NULL,
    doc_id  BIGINT NOT NULL
);
CREATE INDEX doc_band_lookup ON doc_band (band, hash);

-- Topic rules compiled from topics.toml, reloaded before every tagging pass.
CREATE TABLE topic (
    topic       VARCHAR PRIMARY KEY,
    label       VARCHAR NOT NULL,
    description VARCHAR,
    min_score   INTEGER NOT NULL
);
CREATE TABLE topic_rule (
    topic   VARCHAR NOT NULL,
    kind    VARCHAR NOT NULL,                  -- terms | context | exclude
    pattern VARCHAR NOT NULL
);
CREATE TABLE topic_settings (
    title_weight        INTEGER NOT NULL,
    max_hits_per_phrase INTEGER NOT NULL
);

-- Tags: one row per document and topic that applies.
CREATE TABLE doc_topic (
    doc_id   BIGINT NOT NULL,
    topic    VARCHAR NOT NULL,
    score    INTEGER NOT NULL,
    evidence VARCHAR[] NOT NULL,
    PRIMARY KEY (doc_id, topic)
);

-- One row per flow run (ingest, digest, retag).
CREATE TABLE run (
    run_id      VARCHAR PRIMARY KEY,
    flow        VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,              -- running | ok | partial | failed
    summary     JSON
);

-- One row per HTTP request or processing outcome: the fetch log.
CREATE TABLE fetch_event (
    run_id      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,              -- feed | page
    url         VARCHAR NOT NULL,
    outcome     VARCHAR NOT NULL,              -- ok | not_modified | soft | hard | skipped
    http_status INTEGER,
    reason      VARCHAR,
    n_bytes     BIGINT,
    elapsed_ms  INTEGER,
    logged_at   TIMESTAMPTZ NOT NULL
);

-- Per-source result of each ingest run: the basis of outlet health.
CREATE TABLE source_run (
    run_id       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    name         VARCHAR,
    ok           BOOLEAN NOT NULL,
    feeds_ok     INTEGER NOT NULL,
    feeds_failed INTEGER NOT NULL,
    pages_fetched INTEGER NOT NULL,
    pages_failed INTEGER NOT NULL,
    new_articles INTEGER NOT NULL,
    duplicates   INTEGER NOT NULL,
    error        VARCHAR,
    logged_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, source)
);

-- Pages that were fetched but gave no article (not HTML, no text): not fetched again.
CREATE TABLE rejected_url (
    canonical_url VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    rejected_at   TIMESTAMPTZ NOT NULL
);

-- Digests: one row per composed digest, one per item delivered in it.
CREATE TABLE digest (
    digest_id   VARCHAR PRIMARY KEY,
    recipient   VARCHAR NOT NULL,
    channel     VARCHAR NOT NULL,              -- outbox | smtp
    created_at  TIMESTAMPTZ NOT NULL,
    status      VARCHAR NOT NULL,              -- pending | delivered | failed
    location    VARCHAR,                       -- outbox file or SMTP server
    n_items     INTEGER NOT NULL,
    error       VARCHAR
);
CREATE TABLE delivery (
    recipient  VARCHAR NOT NULL,
    doc_id     BIGINT NOT NULL,
    digest_id  VARCHAR NOT NULL,
    topic      VARCHAR NOT NULL,
    status     VARCHAR NOT NULL,               -- pending | delivered
    PRIMARY KEY (recipient, doc_id)
);
