-- Issuers (root and issuing CAs) known to this authority.
CREATE TABLE issuers (
    id TEXT PRIMARY KEY,               -- SHA-256 fingerprint of the certificate (hex)
    role TEXT NOT NULL,                -- 'root' or 'issuing'
    subject TEXT NOT NULL,
    not_after INTEGER NOT NULL,        -- Unix seconds
    der BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Every certificate this authority issued, recorded before it is returned.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,           -- lowercase hex, no leading zeros
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,                -- JSON array of strings such as "DNS:a.example"
    spki_sha256 TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    profile TEXT NOT NULL,
    method TEXT NOT NULL,              -- enrollment method: est-secret, renewal, admin, ...
    evidence TEXT NOT NULL,            -- JSON
    status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at INTEGER,
    revocation_reason TEXT,
    der BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL
);
CREATE INDEX certificates_created ON certificates(created_at);

-- EST enrollment secrets, one per label, as argon2id PHC strings.
CREATE TABLE est_secrets (
    label TEXT PRIMARY KEY,
    phc TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Append-only audit log; each event's hash covers the previous event's hash.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
