-- TEE-style provisioning: TA profiles (versioned), device models, registered device UIDs,
-- single-use enrollment challenges and the evidence behind certificates. Secret material
-- (SK_CSR, model masters) is stored sealed by the authority, never in the clear.

-- One row per version of a TA profile; a rotation adds the next version.
CREATE TABLE tee_profiles (
    name TEXT NOT NULL,                  -- [a-z0-9][a-z0-9-]*
    version INTEGER NOT NULL,            -- from 1
    sk_csr_sealed BLOB NOT NULL,         -- SK_CSR sealed by the authority; never in the clear
    identity_fields TEXT NOT NULL,       -- JSON array of the identity fields the TA reads
    key_algorithm TEXT NOT NULL,         -- the key the TA generates: 'p256'
    certificate_profile TEXT NOT NULL,   -- the certificate profile the authority issues under
    created_at INTEGER NOT NULL,         -- Unix ms
    accepted_until INTEGER,              -- Unix ms; set by a rotation (grace end), NULL while newest
    revoked_at INTEGER,                  -- Unix ms; set on every version by a revocation
    PRIMARY KEY (name, version)
);

-- Device models: their devices' keys derive from the model's master (HMAC-SHA256(master, UID)).
CREATE TABLE tee_models (
    name TEXT PRIMARY KEY,
    master_sealed BLOB NOT NULL,         -- the master sealed by the authority; never in the clear
    created_at INTEGER NOT NULL          -- Unix ms
);

-- Device UIDs the manufacturer registered.
CREATE TABLE tee_devices (
    uid TEXT PRIMARY KEY,                -- hardware UID, [A-Za-z0-9._:-], at most 128 characters
    model TEXT NOT NULL REFERENCES tee_models(name),
    created_at INTEGER NOT NULL          -- Unix ms
);

-- Enrollment challenges: one row per challenge handed to a device, single use.
CREATE TABLE tee_challenges (
    nonce TEXT PRIMARY KEY,              -- 32 random bytes, hex
    uid TEXT NOT NULL REFERENCES tee_devices(uid),
    created_at INTEGER NOT NULL,         -- Unix ms
    expires_at INTEGER NOT NULL,         -- Unix ms
    used_at INTEGER,                     -- Unix ms; set once, by the enrollment that issued
    serial TEXT                          -- the certificate that enrollment issued
);
CREATE INDEX tee_challenges_expires ON tee_challenges(expires_at);
-- A device's outstanding challenges are counted at each QueryRequest (a per-device cap).
CREATE INDEX tee_challenges_uid ON tee_challenges(uid, expires_at);

-- The evidence behind each certificate issued by TEE enrollment.
CREATE TABLE tee_attestations (
    serial TEXT PRIMARY KEY REFERENCES certificates(serial),
    uid TEXT NOT NULL,
    model TEXT NOT NULL,
    profile TEXT NOT NULL,               -- the TA profile
    version INTEGER NOT NULL,            -- the TA profile version whose key MAC'd the CSR
    challenge TEXT NOT NULL UNIQUE REFERENCES tee_challenges(nonce),
    key_storage TEXT NOT NULL,           -- where the device key lives: 'software' or 'tpm'
    identity TEXT NOT NULL,              -- JSON array of [field, value] the TA read
    checks TEXT NOT NULL,                -- JSON array of the check names that passed
    verified_at INTEGER NOT NULL         -- Unix ms
);
