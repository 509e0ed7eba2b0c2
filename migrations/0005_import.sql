-- Chat-export imports: the room each import writes to, and a ledger of every source message
-- already sent, so that a re-run resumes where it stopped and never sends a message twice.
-- import_id: the chat's stable key (wa:<fingerprint>, tg:<chat id>);
-- source_key: one message (or ghost join, or the final report) of that chat.
CREATE TABLE import_rooms (
    import_id   TEXT   PRIMARY KEY,
    source      TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE TABLE import_ledger (
    import_id  TEXT   NOT NULL,
    source_key TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (import_id, source_key)
);
