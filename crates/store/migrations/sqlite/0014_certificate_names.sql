-- The names a certificate is found by in a search (the console's "name" box): each subject
-- attribute value and each SAN value, lowercased. Prefix searches are index ranges, fast at
-- millions of certificates.
CREATE TABLE certificate_names (
    name TEXT NOT NULL,
    serial TEXT NOT NULL REFERENCES certificates(serial),
    PRIMARY KEY (name, serial)
);

-- Certificates recorded before: their SAN values, and their common name.
INSERT OR IGNORE INTO certificate_names (name, serial)
SELECT lower(substr(j.value, instr(j.value, ':') + 1)), c.serial
FROM certificates c, json_each(c.sans) j;

WITH cn AS (
    SELECT serial, substr(subject, instr(subject, 'CN=') + 3) AS rest
    FROM certificates
    WHERE subject LIKE 'CN=%' OR subject LIKE '%,CN=%'
)
INSERT OR IGNORE INTO certificate_names (name, serial)
SELECT lower(CASE instr(rest, ',') WHEN 0 THEN rest ELSE substr(rest, 1, instr(rest, ',') - 1) END),
       serial
FROM cn;

-- The assurance level a certificate carries (its policy OID), for the console's level filter;
-- unknown (NULL) for certificates recorded before.
ALTER TABLE certificates ADD COLUMN level INTEGER;
