-- Operator alerts (issue 8): outlet incidents and their delivery to the `[operator]` channels,
-- apart from the subscriber digests (`digest`, `delivery_log`).
-- An incident is one stretch of time an outlet is failing (in `failing_outlets`) or has gone
-- quiet (`outlet_activity.gone_quiet`); it opens when first seen after a run and closes when
-- the outlet is out of that view again (or left the sources file).
CREATE SEQUENCE operator_incident_id;
CREATE TABLE operator_incident (
    incident_id   BIGINT PRIMARY KEY DEFAULT nextval('operator_incident_id'),
    source        VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,      -- failing | quiet
    opened_at     TIMESTAMPTZ NOT NULL,
    closed_at     TIMESTAMPTZ,           -- NULL while it lasts
    detail        VARCHAR NOT NULL,      -- JSON: the view's row when it opened
    closed_reason VARCHAR                -- recovered | removed (no longer in the sources file)
);

-- When a channel first appeared in [operator]: it is told what is open now, not the history.
CREATE TABLE operator_channel (
    channel       VARCHAR PRIMARY KEY,   -- the channel key, as in the delivery log
    first_seen_at TIMESTAMPTZ NOT NULL
);

-- One row per message to one channel, claimed before sending (the digest protocol).
CREATE TABLE operator_alert (
    alert_id   VARCHAR PRIMARY KEY,
    channel    VARCHAR NOT NULL,
    transport  VARCHAR NOT NULL,         -- outbox | smtp | apprise | webhook
    created_at TIMESTAMPTZ NOT NULL,
    status     VARCHAR NOT NULL,         -- pending | delivered | failed
    n_events   INTEGER NOT NULL,
    location   VARCHAR,
    error      VARCHAR
);

-- Which incident event went to which channel; a failed alert's rows are removed (sent again).
CREATE TABLE operator_alert_event (
    channel     VARCHAR NOT NULL,
    incident_id BIGINT NOT NULL,
    event       VARCHAR NOT NULL,        -- opened | closed
    alert_id    VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,        -- pending | delivered
    PRIMARY KEY (channel, incident_id, event)
);
