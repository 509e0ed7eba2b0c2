-- SMPP state kept across restarts.

-- The SMSC's message id of every part it took (submit_sm_resp), written before the response
-- is acted on: a delivery receipt after a restart still finds its message, and a retry of a
-- long message sends only the parts not taken yet.
CREATE TABLE smpp_sent (
    connector  TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    outbox_key BIGINT  NOT NULL,
    recipient  TEXT    NOT NULL,
    part       BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (connector, message_id)
);
CREATE INDEX smpp_sent_key ON smpp_sent (connector, outbox_key);
CREATE INDEX smpp_sent_created ON smpp_sent (created_at);

-- Parts of incoming concatenated SMS, stored before the SMSC is answered, until the whole
-- message is handed to the runtime (or the set expires). A set handed on is kept (done = 1)
-- for the reassembly timeout, so a part the SMSC delivers again is recognised as a repeat.
CREATE TABLE smpp_parts (
    connector   TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    reference   BIGINT  NOT NULL,
    total       BIGINT  NOT NULL,
    seq         BIGINT  NOT NULL,
    body        TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    done        BIGINT  NOT NULL,
    PRIMARY KEY (connector, sender, reference, total, seq)
);
CREATE INDEX smpp_parts_received ON smpp_parts (received_at);
