-- An EK's outstanding activations are counted at each activation request (a per-EK cap).
CREATE INDEX tpm_activations_ek ON tpm_activations(ek_public_sha256, expires_at);
