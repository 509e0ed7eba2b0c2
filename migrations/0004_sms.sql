-- Contacts who asked to receive no more messages (an SMS "STOP"), per connector, until they
-- opt back in ("START"), which deletes the row.
CREATE TABLE opt_outs (
    connector  TEXT   NOT NULL,
    contact    TEXT   NOT NULL,
    keyword    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, contact)
);
