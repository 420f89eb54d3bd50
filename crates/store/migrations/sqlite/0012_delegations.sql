-- Delegations: an anchor pre-signs, for a deputy device of its account, a time-boxed and
-- counted permission to approve the account's other logins while the anchor is away. At most
-- one is open per account; it ends when the anchor approves again, is replaced or revoked.

CREATE TABLE delegations (
    id TEXT PRIMARY KEY,                 -- dlg- and 16 hex digits
    account_id TEXT NOT NULL REFERENCES accounts(id),
    deputy TEXT NOT NULL REFERENCES linked_devices(registration),
    anchor_serial TEXT NOT NULL,         -- the anchor certificate that signed it
    not_before INTEGER NOT NULL,         -- Unix ms
    not_after INTEGER NOT NULL,          -- Unix ms, exclusive
    max_approvals INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,     -- approvals consumed, with their certificates
    signed_at INTEGER NOT NULL,          -- Unix s, as signed
    signature BLOB NOT NULL,             -- the anchor's signature over the terms
    created_at INTEGER NOT NULL,         -- Unix ms
    ended_at INTEGER,                    -- Unix ms
    end_reason TEXT                      -- anchor-returned, replaced, revoked, unlinked
);
CREATE UNIQUE INDEX delegations_open ON delegations(account_id) WHERE ended_at IS NULL;

-- The delegation under which a deputy approved a login (NULL: the anchor approved it).
ALTER TABLE logins ADD COLUMN delegation_id TEXT;

-- The device's session key sealed to the authority's login key (HPKE); part of what the
-- approver signs.
ALTER TABLE logins ADD COLUMN session BLOB;
