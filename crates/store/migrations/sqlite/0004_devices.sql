-- PSK registration (per-product group key) and the registry's own device <-> certificate map.
ALTER TABLE products ADD COLUMN psk_group_key TEXT;     -- hex; NULL: PSK registration off
ALTER TABLE devices ADD COLUMN registration_id TEXT;    -- PSK devices: the id their key derives from
CREATE UNIQUE INDEX devices_registration ON devices(product_id, registration_id)
    WHERE registration_id IS NOT NULL;

-- Nonces of accepted PSK tokens, kept while their timestamp window is open: a replay is refused.
CREATE TABLE psk_nonces (
    nonce TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX psk_nonces_expiry ON psk_nonces(expires_at);

-- Every DeviceCert a device received, whichever CA issued it (this one, or a separate one over EST).
CREATE TABLE device_certificates (
    serial TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    issuer TEXT NOT NULL,                -- 'local' or the EST URL of the issuing authority
    not_after INTEGER NOT NULL,
    der BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX device_certificates_device ON device_certificates(device_id);
