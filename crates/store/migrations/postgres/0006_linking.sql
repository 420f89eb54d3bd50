-- Accounts and linked devices: an account is bound to trust-anchor keys (level-3 certificates);
-- new devices link by single-use link requests an anchor confirms; a linked device's login is
-- approved by an anchor and consumed by the certificate it produces.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,                 -- acct- and 16 hex digits
    name TEXT NOT NULL,
    max_devices BIGINT NOT NULL,
    created_at BIGINT NOT NULL          -- Unix ms
);

CREATE TABLE account_anchors (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    spki_sha256 TEXT NOT NULL,           -- the anchor key
    serial TEXT NOT NULL,                -- the certificate it was bound with
    added_at BIGINT NOT NULL,           -- Unix ms
    removed_at BIGINT,                  -- Unix ms
    PRIMARY KEY (account_id, spki_sha256, added_at)
);
-- A key anchors at most one account at a time.
CREATE UNIQUE INDEX account_anchors_current ON account_anchors(spki_sha256) WHERE removed_at IS NULL;

CREATE TABLE link_requests (
    token_sha256 TEXT PRIMARY KEY,       -- the token itself is never stored
    registration TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    spki_der BYTEA NOT NULL,
    spki_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,         -- Unix ms
    expires_at BIGINT NOT NULL,         -- Unix ms
    used_at BIGINT,                     -- Unix ms; set once
    client TEXT NOT NULL                 -- the requesting address (a per-address cap)
);
CREATE INDEX link_requests_open ON link_requests(used_at, expires_at);
CREATE INDEX link_requests_client ON link_requests(client, used_at, expires_at);

CREATE TABLE linked_devices (
    registration TEXT PRIMARY KEY,       -- ld- and 12 hex digits
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    spki_der BYTEA NOT NULL,
    spki_sha256 TEXT NOT NULL,
    anchor_serial TEXT NOT NULL,         -- the anchor certificate that linked it
    list_signature BYTEA NOT NULL,        -- the anchor's signature over the device list
    linked_at BIGINT NOT NULL,          -- Unix ms
    unlinked_at BIGINT                  -- Unix ms
);
CREATE INDEX linked_devices_account ON linked_devices(account_id);
-- A key is linked to at most one account at a time.
CREATE UNIQUE INDEX linked_devices_key ON linked_devices(spki_sha256) WHERE unlinked_at IS NULL;

CREATE TABLE logins (
    id TEXT PRIMARY KEY,                 -- login- and 16 hex digits
    registration TEXT NOT NULL REFERENCES linked_devices(registration),
    account_id TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,        -- what the anchor signs
    nonce BYTEA NOT NULL,
    csr BYTEA NOT NULL,
    poll_sha256 TEXT NOT NULL,           -- the device's poll secret, hashed
    created_at BIGINT NOT NULL,         -- Unix ms
    expires_at BIGINT NOT NULL,         -- Unix ms
    approved_at BIGINT,                 -- Unix ms; set once, with the certificate
    anchor_serial TEXT,
    signature BYTEA,
    serial TEXT                          -- the certificate the approval produced
);
CREATE INDEX logins_account ON logins(account_id, approved_at, expires_at);
CREATE INDEX logins_device ON logins(registration, approved_at, expires_at);
