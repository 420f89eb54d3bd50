-- Device counts without reading every device row: kept in the product row, updated in the
-- registering transaction.
ALTER TABLE products ADD COLUMN device_count INTEGER NOT NULL DEFAULT 0;
UPDATE products SET device_count = (SELECT COUNT(*) FROM devices WHERE devices.product_id = products.id);

-- Keyset paging: certificates by the audit event that recorded them, devices newest first.
CREATE INDEX certificates_audit_seq ON certificates(audit_seq);
CREATE INDEX devices_product_created ON devices(product_id, created_at, id);
CREATE INDEX devices_created ON devices(created_at, id);
