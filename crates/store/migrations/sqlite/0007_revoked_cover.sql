-- The revocation set (every CRL, every replica's start) read from the index alone: serial,
-- reason and expiry ride in it, so a million-row table is not visited row by row.
CREATE INDEX certificates_revoked_cover
    ON certificates(issuer_id, revoked_at, serial, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;
DROP INDEX certificates_revoked;
