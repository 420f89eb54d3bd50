-- TPM 2.0 enrollment: one row per credential activation handed out, single use.
CREATE TABLE tpm_activations (
    id TEXT PRIMARY KEY,                 -- random, 32 hex chars
    ek_cert_sha256 TEXT,                 -- NULL when the EK public was allow-listed
    ek_issuer TEXT,
    ek_public_sha256 TEXT NOT NULL,      -- SHA-256 of the EK's TPMT_PUBLIC, hex
    ak_name TEXT NOT NULL,               -- hex
    ak_public BLOB NOT NULL,             -- TPMT_PUBLIC
    secret_sha256 TEXT NOT NULL,         -- SHA-256 of the activation secret, hex; never the secret
    nonce BLOB NOT NULL,                 -- qualifying data TPM2_Certify must carry
    created_at INTEGER NOT NULL,         -- Unix ms
    expires_at INTEGER NOT NULL,         -- Unix ms
    used_at INTEGER,                     -- Unix ms; set once, by the enrollment that issued
    serial TEXT                          -- the certificate that enrollment issued
);
CREATE INDEX tpm_activations_expires ON tpm_activations(expires_at);

-- The evidence behind each certificate issued by TPM enrollment.
CREATE TABLE tpm_attestations (
    serial TEXT PRIMARY KEY REFERENCES certificates(serial),
    activation_id TEXT NOT NULL UNIQUE REFERENCES tpm_activations(id),
    ek_cert_sha256 TEXT,
    ek_issuer TEXT,
    ek_public_sha256 TEXT NOT NULL,
    ak_name TEXT NOT NULL,
    key_name TEXT NOT NULL,
    checks TEXT NOT NULL,                -- JSON array of the check names that passed
    verified_at INTEGER NOT NULL         -- Unix ms
);
