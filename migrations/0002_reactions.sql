-- Reactions, in both directions, so that a network's "full set" of one person's reactions
-- can be turned into Matrix additions and removals (and back).
-- target: remote id of the message reacted to; sender: a Matrix user id or a remote id.
CREATE TABLE reactions (
    connector    TEXT   NOT NULL,
    target       TEXT   NOT NULL,
    sender       TEXT   NOT NULL,
    reaction_key TEXT   NOT NULL,
    room_id      TEXT   NOT NULL,
    event_id     TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (connector, target, sender, reaction_key)
);
CREATE UNIQUE INDEX reactions_event_id ON reactions (event_id);
