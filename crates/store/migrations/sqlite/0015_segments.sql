-- Card segments (docs/cards.md): departments whose members log in with an everyday IC card and
-- a PIN derived from the card and the segment's salt. No PIN and no PIN hash is stored.
CREATE TABLE segments (
    name TEXT PRIMARY KEY,
    pin_digits INTEGER NOT NULL CHECK (pin_digits BETWEEN 6 AND 10),
    use_pmm INTEGER NOT NULL,            -- 1: the card's PMm is part of the PIN
    created_at INTEGER NOT NULL          -- Unix ms
);

-- A segment's salt generations: each salt sealed with the authority's sealing key, and the
-- window in which its PINs are accepted (a renewal window overlaps two generations).
CREATE TABLE segment_salts (
    segment TEXT NOT NULL REFERENCES segments(name),
    number INTEGER NOT NULL,
    salt_sealed BLOB NOT NULL,
    valid_from INTEGER NOT NULL,         -- Unix s
    valid_until INTEGER NOT NULL,        -- Unix s, exclusive
    created_at INTEGER NOT NULL,         -- Unix ms
    PRIMARY KEY (segment, number)
);
