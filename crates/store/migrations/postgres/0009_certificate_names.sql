-- The names a certificate is found by in a search (the console's "name" box): each subject
-- attribute value and each SAN value, lowercased. Prefix searches are index ranges, fast at
-- millions of certificates.
CREATE TABLE certificate_names (
    name TEXT NOT NULL,
    serial TEXT NOT NULL REFERENCES certificates(serial),
    PRIMARY KEY (name, serial)
);
CREATE INDEX certificate_names_prefix ON certificate_names(name text_pattern_ops);

-- Certificates recorded before: their SAN values, and their common name.
INSERT INTO certificate_names (name, serial)
SELECT DISTINCT lower(substr(j.value, strpos(j.value, ':') + 1)), c.serial
FROM certificates c, jsonb_array_elements_text(c.sans::jsonb) AS j(value)
ON CONFLICT DO NOTHING;

INSERT INTO certificate_names (name, serial)
SELECT DISTINCT lower(split_part(substr(subject, strpos(subject, 'CN=') + 3), ',', 1)), serial
FROM certificates
WHERE subject LIKE 'CN=%' OR subject LIKE '%,CN=%'
ON CONFLICT DO NOTHING;

-- The assurance level a certificate carries (its policy OID), for the console's level filter;
-- unknown (NULL) for certificates recorded before.
ALTER TABLE certificates ADD COLUMN level BIGINT;
