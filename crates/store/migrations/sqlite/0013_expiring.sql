-- Valid certificates by expiry: the console's "expiring soon" count without a table scan.
CREATE INDEX certificates_valid_not_after ON certificates(not_after) WHERE status = 'valid';
