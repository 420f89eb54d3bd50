//! TPMS_ATTEST (TPM 2.0 Part 2, §10.12.12) for TPM2_Certify.

use crate::tpm::wire::Reader;
use crate::AttestError;

/// TPM_GENERATED_VALUE: every TPMS_ATTEST the TPM signs starts with it.
pub const ATTEST_MAGIC: u32 = 0xff54_4347;
/// TPM_ST_ATTEST_CERTIFY.
pub const ST_ATTEST_CERTIFY: u16 = 0x8017;

/// TPMS_CLOCK_INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since it was made.
    pub clock: u64,
    /// TPM resets.
    pub reset_count: u32,
    /// TPM restarts.
    pub restart_count: u32,
    /// Whether the clock has not gone backwards.
    pub safe: bool,
}

/// TPMS_CERTIFY_INFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifyInfo {
    /// The certified object's name.
    pub name: Vec<u8>,
    /// Its qualified name.
    pub qualified_name: Vec<u8>,
}

/// A parsed TPMS_ATTEST of type certify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// The signer's qualified name.
    pub qualified_signer: Vec<u8>,
    /// The caller's qualifying data (the authority's nonce).
    pub extra_data: Vec<u8>,
    /// The TPM's clock.
    pub clock_info: ClockInfo,
    /// The TPM firmware version.
    pub firmware_version: u64,
    /// What was certified.
    pub certify: CertifyInfo,
}

impl Attest {
    /// Parses TPMS_ATTEST bytes; only TPM_ST_ATTEST_CERTIFY is accepted, with the TPM magic.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        let mut r = Reader::new("TPMS_ATTEST", bytes)?;
        let magic = r.u32("magic")?;
        if magic != ATTEST_MAGIC {
            return Err(r.error(format!("magic {magic:#010x} is not TPM_GENERATED_VALUE")));
        }
        let kind = r.u16("type")?;
        if kind != ST_ATTEST_CERTIFY {
            return Err(r.error(format!("type {kind:#06x} is not TPM_ST_ATTEST_CERTIFY")));
        }
        let qualified_signer = r.tpm2b(66, "qualifiedSigner")?.to_vec();
        let extra_data = r.tpm2b(64, "extraData")?.to_vec();
        let clock_info = ClockInfo {
            clock: r.u64("clock")?,
            reset_count: r.u32("resetCount")?,
            restart_count: r.u32("restartCount")?,
            safe: match r.u8("safe")? {
                0 => false,
                1 => true,
                other => return Err(r.error(format!("safe is {other}, not a TPMI_YES_NO"))),
            },
        };
        let firmware_version = r.u64("firmwareVersion")?;
        let name = r.tpm2b(66, "certify.name")?.to_vec();
        let qualified_name = r.tpm2b(66, "certify.qualifiedName")?.to_vec();
        r.finish()?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            certify: CertifyInfo {
                name,
                qualified_name,
            },
        })
    }
}

#[cfg(test)]
mod tests;
