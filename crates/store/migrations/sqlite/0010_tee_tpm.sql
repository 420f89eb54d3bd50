-- TEE provisioning on a TPM: a device may be registered with its TPM's endorsement key, and
-- then its TA is delivered sealed to that TPM (credential activation) and bound to a device
-- key resident in it.
ALTER TABLE tee_devices ADD COLUMN ek_public BLOB;      -- the EK's TPMT_PUBLIC; NULL: no TPM
ALTER TABLE tee_challenges ADD COLUMN tpm_key BLOB;     -- the device key's TPMT_PUBLIC the Update was bound to
ALTER TABLE tee_challenges ADD COLUMN tpm_secret BLOB;  -- the activation secret, sealed by the authority
