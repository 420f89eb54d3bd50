-- The whole schema as the SQLite migrations 0001-0006 leave it, in PostgreSQL's types: the same
-- tables and columns under the same names, so both backends read rows the same way.

-- Every audited write takes this row's lock first (SELECT ... FOR UPDATE) and holds it until it
-- commits: that serialises appends to the audit chain across every replica, and everything
-- numbered under it (audit seq, revocation feed seq) is numbered in commit order.
CREATE TABLE write_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO write_lock (id) VALUES (1);

-- Issuers (root and issuing CAs) known to this authority.
CREATE TABLE issuers (
    id TEXT PRIMARY KEY,               -- SHA-256 fingerprint of the certificate (hex)
    role TEXT NOT NULL,                -- 'root' or 'issuing'
    subject TEXT NOT NULL,
    not_after BIGINT NOT NULL,         -- Unix seconds
    der BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every certificate this authority issued, recorded before it is returned.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,           -- lowercase hex, no leading zeros
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,                -- JSON array of strings such as "DNS:a.example"
    spki_sha256 TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    profile TEXT NOT NULL,
    method TEXT NOT NULL,              -- enrollment method: est-secret, renewal, admin, ...
    evidence TEXT NOT NULL,            -- JSON
    status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at BIGINT,
    revocation_reason TEXT,
    der BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL,
    bootstrap_serial TEXT              -- the certificate this one was enrolled with
);
CREATE INDEX certificates_created ON certificates(created_at);
CREATE INDEX certificates_audit_seq ON certificates(audit_seq);
CREATE INDEX certificates_bootstrap ON certificates(bootstrap_serial) WHERE bootstrap_serial IS NOT NULL;
CREATE INDEX certificates_revoked ON certificates(issuer_id, revoked_at) WHERE revoked_at IS NOT NULL;

-- EST enrollment secrets, one per label, as argon2id PHC strings.
CREATE TABLE est_secrets (
    label TEXT PRIMARY KEY,
    phc TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Append-only audit log; each event's hash covers the previous event's hash.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- The revocation feed: one row per revocation, numbered in commit order under write_lock.
CREATE TABLE revocations (
    seq BIGINT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE REFERENCES certificates(serial),
    issuer_id TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,        -- Unix seconds
    reason TEXT NOT NULL
);

-- The last CRL per issuer (its number must keep increasing across restarts and replicas).
CREATE TABLE crls (
    issuer_id TEXT PRIMARY KEY,
    number BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA NOT NULL
);

-- Admin API tokens, by the SHA-256 of the token (tokens are 256-bit random).
CREATE TABLE admin_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Products: one ProductCert per product line; devices bootstrap their own certificates with it.
CREATE TABLE products (
    id TEXT PRIMARY KEY,                 -- random, hex
    name TEXT NOT NULL UNIQUE,
    attributes TEXT NOT NULL,            -- JSON array: device attribute names the product allows
    max_devices BIGINT,                  -- NULL: no cap
    device_validity_secs BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    cert_serial TEXT,                    -- the ProductCert
    created_at BIGINT NOT NULL,
    psk_group_key TEXT,                  -- hex; NULL: PSK registration off
    device_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX products_cert ON products(cert_serial);

-- Devices: random local ids; identity attributes stay here, never in the certificate.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id),
    attributes TEXT NOT NULL,            -- JSON object
    spki_sha256 TEXT NOT NULL,           -- the device key: one device per key
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    registration_id TEXT,                -- PSK devices: the id their key derives from
    UNIQUE (product_id, spki_sha256)
);
CREATE UNIQUE INDEX devices_key ON devices(spki_sha256);
CREATE UNIQUE INDEX devices_registration ON devices(product_id, registration_id)
    WHERE registration_id IS NOT NULL;
CREATE INDEX devices_product_created ON devices(product_id, created_at DESC, id);
CREATE INDEX devices_created ON devices(created_at DESC, id);

-- Nonces of accepted PSK tokens, kept while their timestamp window is open: a replay is refused.
CREATE TABLE psk_nonces (
    nonce TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX psk_nonces_expiry ON psk_nonces(expires_at);

-- Every DeviceCert a device received, whichever CA issued it (this one, or a separate one over EST).
CREATE TABLE device_certificates (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    issuer TEXT NOT NULL,                -- 'local' or the EST URL of the issuing authority
    not_after BIGINT NOT NULL,
    der BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX device_certificates_device ON device_certificates(device_id);

-- TPM 2.0 enrollment: one row per credential activation handed out, single use.
CREATE TABLE tpm_activations (
    id TEXT PRIMARY KEY,                 -- random, 32 hex chars
    ek_cert_sha256 TEXT,                 -- NULL when the EK public was allow-listed
    ek_issuer TEXT,
    ek_public_sha256 TEXT NOT NULL,      -- SHA-256 of the EK's TPMT_PUBLIC, hex
    ak_name TEXT NOT NULL,               -- hex
    ak_public BYTEA NOT NULL,            -- TPMT_PUBLIC
    secret_sha256 TEXT NOT NULL,         -- SHA-256 of the activation secret, hex; never the secret
    nonce BYTEA NOT NULL,                -- qualifying data TPM2_Certify must carry
    created_at BIGINT NOT NULL,          -- Unix ms
    expires_at BIGINT NOT NULL,          -- Unix ms
    used_at BIGINT,                      -- Unix ms; set once, by the enrollment that issued
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
    verified_at BIGINT NOT NULL          -- Unix ms
);
