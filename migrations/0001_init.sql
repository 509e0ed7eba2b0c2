-- passerelle's durable state. Portable SQL: the same statements run on PostgreSQL
-- once BIGINT identity columns replace INTEGER PRIMARY KEY.

-- Homeserver transactions already accepted (dedup of the "AS ACK lost" replay).
CREATE TABLE hs_transactions (
    txn_id      TEXT    NOT NULL PRIMARY KEY,
    received_at BIGINT  NOT NULL,
    event_count INTEGER NOT NULL
);

-- Events received from the homeserver, stored before the transaction is acknowledged.
-- state: 0 = pending, 1 = done, 2 = skipped (malformed or not ours), 3 = failed.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id      TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    event_id    TEXT,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    received_at BIGINT  NOT NULL,
    done_at     BIGINT
);
CREATE UNIQUE INDEX inbox_event_id ON inbox (event_id);
CREATE INDEX inbox_pending ON inbox (state, room_id, id);

-- Messages received from a remote network, stored before the remote side is acknowledged.
CREATE TABLE remote_inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    connector    TEXT    NOT NULL,
    remote_id    TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    received_at  BIGINT  NOT NULL,
    done_at      BIGINT
);
CREATE UNIQUE INDEX remote_inbox_remote_id ON remote_inbox (connector, remote_id);
CREATE INDEX remote_inbox_pending ON remote_inbox (state, connector, conversation, id);

-- Everything passerelle sends, in either direction, written before the first attempt.
-- direction: 'matrix' (to the homeserver) or 'remote' (to a connector).
-- state: 0 = pending, 1 = done, 2 = failed permanently (wedged).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    direction       TEXT    NOT NULL,
    connector       TEXT,
    room_id         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    result_id       TEXT,
    created_at      BIGINT  NOT NULL,
    done_at         BIGINT
);
CREATE INDEX outbox_pending ON outbox (state, direction, room_id, id);

-- Puppet users, one per remote contact.
CREATE TABLE ghosts (
    connector    TEXT    NOT NULL,
    remote_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    display_name TEXT,
    avatar_url   TEXT,
    registered   INTEGER NOT NULL DEFAULT 0,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (connector, remote_id)
);
CREATE UNIQUE INDEX ghosts_user_id ON ghosts (user_id);

-- Matrix rooms linked to a remote conversation.
CREATE TABLE portals (
    connector    TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    room_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL DEFAULT 'dm',
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (connector, conversation)
);
CREATE UNIQUE INDEX portals_room_id ON portals (room_id);

-- Matrix event id <-> remote message id, for edits, replies, reactions and redactions.
CREATE TABLE messages (
    connector    TEXT   NOT NULL,
    remote_id    TEXT   NOT NULL,
    room_id      TEXT   NOT NULL,
    event_id     TEXT   NOT NULL,
    sender       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (connector, remote_id)
);
CREATE UNIQUE INDEX messages_event_id ON messages (event_id);

-- Users already told, once, why their messages are not bridged.
CREATE TABLE notified_users (
    user_id     TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    notified_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, reason)
);
