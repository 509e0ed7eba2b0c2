-- Email connector state.

-- How far each IMAP mailbox has been read. A new UIDVALIDITY means the server renumbered the
-- mailbox: reading starts again from its first unseen mail (Message-IDs keep it exactly-once).
CREATE TABLE email_mailboxes (
    connector    TEXT   NOT NULL,
    mailbox      TEXT   NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    PRIMARY KEY (connector, mailbox)
);

-- Mail handed to the runtime but not yet flagged or moved in the mailbox: marked once Matrix
-- has it.
CREATE TABLE email_marks (
    connector    TEXT   NOT NULL,
    mailbox      TEXT   NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid          BIGINT NOT NULL,
    remote_id    TEXT   NOT NULL,
    -- 1: wait for the Matrix event; 0: the stored item is enough (a bounce, a skipped mail).
    needs_event  INTEGER NOT NULL,
    PRIMARY KEY (connector, mailbox, uid_validity, uid)
);

-- Every mail seen or sent, for threading: the thread it belongs to (the Message-ID of its
-- first mail), the thread's subject and the References a reply to it carries.
CREATE TABLE email_messages (
    connector    TEXT   NOT NULL,
    message_id   TEXT   NOT NULL,
    thread_root  TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    refs         TEXT   NOT NULL,
    conversation TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (connector, message_id)
);
CREATE INDEX email_messages_thread ON email_messages (connector, thread_root, created_at);
