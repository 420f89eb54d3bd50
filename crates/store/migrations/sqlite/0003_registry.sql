-- Products: one ProductCert per product line; devices bootstrap their own certificates with it.
CREATE TABLE products (
    id TEXT PRIMARY KEY,                 -- random, hex
    name TEXT NOT NULL UNIQUE,
    attributes TEXT NOT NULL,            -- JSON array: device attribute names the product allows
    max_devices INTEGER,                 -- NULL: no cap
    device_validity_secs INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    cert_serial TEXT,                    -- the ProductCert
    created_at INTEGER NOT NULL
);
CREATE INDEX products_cert ON products(cert_serial);

-- Devices: random local ids; identity attributes stay here, never in the certificate.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id),
    attributes TEXT NOT NULL,            -- JSON object
    spki_sha256 TEXT NOT NULL,           -- the device key: one device per (product, key)
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (product_id, spki_sha256)
);
CREATE INDEX devices_product ON devices(product_id);
CREATE UNIQUE INDEX devices_key ON devices(spki_sha256);
