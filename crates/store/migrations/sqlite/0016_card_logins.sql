-- Card logins (docs/cards.md): each segment's attempt policy, failed-attempt counters per card
-- and per client address, level-1 registered cards, level-3 users. Still no PIN and no PIN hash.
ALTER TABLE segments ADD COLUMN max_card_failures INTEGER NOT NULL DEFAULT 5;
ALTER TABLE segments ADD COLUMN max_address_failures INTEGER NOT NULL DEFAULT 20;

-- Failures since the last successful login or unlock; never reset by time.
CREATE TABLE segment_attempts (
    segment TEXT NOT NULL REFERENCES segments(name),
    subject TEXT NOT NULL,               -- card:<IDm> or address:<IP>
    failures INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,       -- Unix ms; 0 not locked; i64::MAX until unlocked
    last_failure_at INTEGER NOT NULL,    -- Unix ms
    PRIMARY KEY (segment, subject)
);

-- Level 1: the cards a segment admits by their IDm alone (an entry system's list).
CREATE TABLE segment_cards (
    segment TEXT NOT NULL REFERENCES segments(name),
    idm TEXT NOT NULL,
    holder TEXT NOT NULL,
    registered_at INTEGER NOT NULL,      -- Unix ms
    PRIMARY KEY (segment, idm)
);

-- Level 3: users with a password (argon2id, PHC string) and the card they log in with.
CREATE TABLE segment_users (
    segment TEXT NOT NULL REFERENCES segments(name),
    name TEXT NOT NULL,
    idm TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,         -- Unix ms
    PRIMARY KEY (segment, name)
);
