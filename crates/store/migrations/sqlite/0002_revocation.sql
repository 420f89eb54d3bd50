-- The certificate a certificate was enrolled with (TLS client certificate, ProductCert...),
-- so revoking a bootstrap certificate can cascade on request.
ALTER TABLE certificates ADD COLUMN bootstrap_serial TEXT;
CREATE INDEX certificates_bootstrap ON certificates(bootstrap_serial) WHERE bootstrap_serial IS NOT NULL;
CREATE INDEX certificates_revoked ON certificates(issuer_id, revoked_at) WHERE revoked_at IS NOT NULL;

-- The revocation feed: one row per revocation, in commit order.
CREATE TABLE revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL UNIQUE REFERENCES certificates(serial),
    issuer_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,       -- Unix seconds
    reason TEXT NOT NULL
);

-- The last CRL per issuer (its number must keep increasing across restarts).
CREATE TABLE crls (
    issuer_id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der BLOB NOT NULL
);

-- Admin API tokens, by the SHA-256 of the token (tokens are 256-bit random).
CREATE TABLE admin_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
