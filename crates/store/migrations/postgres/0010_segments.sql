-- Card segments (docs/cards.md): departments whose members log in with an everyday IC card and
-- a PIN derived from the card and the segment's salt. No PIN and no PIN hash is stored.
CREATE TABLE segments (
    name TEXT PRIMARY KEY,
    pin_digits BIGINT NOT NULL CHECK (pin_digits BETWEEN 6 AND 10),
    use_pmm BIGINT NOT NULL,            -- 1: the card's PMm is part of the PIN
    created_at BIGINT NOT NULL          -- Unix ms
);

-- A segment's salt generations: each salt sealed with the authority's sealing key, and the
-- window in which its PINs are accepted (a renewal window overlaps two generations).
CREATE TABLE segment_salts (
    segment TEXT NOT NULL REFERENCES segments(name),
    number BIGINT NOT NULL,
    salt_sealed BYTEA NOT NULL,
    valid_from BIGINT NOT NULL,         -- Unix s
    valid_until BIGINT NOT NULL,        -- Unix s, exclusive
    created_at BIGINT NOT NULL,         -- Unix ms
    PRIMARY KEY (segment, number)
);

-- Cards a segment refuses (a lost card, a leaked PIN) until its next salt rotation clears the
-- list (the paper's procedure: a revoked card gets no PIN under the new salt unless issued one).
CREATE TABLE segment_revoked_cards (
    segment TEXT NOT NULL REFERENCES segments(name),
    idm TEXT NOT NULL,                   -- 16 lowercase hex digits
    reason TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,          -- Unix ms
    PRIMARY KEY (segment, idm)
);
