//! A bounded big-endian reader for TPM 2.0 marshalling; every read checks the remaining length.

use crate::AttestError;

pub(crate) struct Reader<'a> {
    what: &'static str,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, data: &'a [u8]) -> Result<Self, AttestError> {
        if data.len() > super::MAX_STRUCTURE_BYTES {
            return Err(AttestError::malformed(
                what,
                format!(
                    "{} bytes is more than the {} allowed",
                    data.len(),
                    super::MAX_STRUCTURE_BYTES
                ),
            ));
        }
        Ok(Self { what, data, pos: 0 })
    }

    pub(crate) fn error(&self, why: impl Into<String>) -> AttestError {
        AttestError::malformed(self.what, why)
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &str) -> Result<&'a [u8], AttestError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| self.error(format!("truncated at {field}")))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.error(format!("truncated at {field}")))?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, AttestError> {
        let b = self.bytes(1, field)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16, AttestError> {
        let b = self.bytes(2, field)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(b);
        Ok(u16::from_be_bytes(a))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, AttestError> {
        let b = self.bytes(4, field)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, AttestError> {
        let b = self.bytes(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A TPM2B: a 2-byte size then that many bytes, at most `max`.
    pub(crate) fn tpm2b(&mut self, max: usize, field: &str) -> Result<&'a [u8], AttestError> {
        let size = usize::from(self.u16(field)?);
        if size > max {
            return Err(self.error(format!("{field} is {size} bytes, at most {max} allowed")));
        }
        self.bytes(size, field)
    }

    pub(crate) fn finish(self) -> Result<(), AttestError> {
        if self.pos != self.data.len() {
            return Err(self.error(format!("{} trailing bytes", self.data.len() - self.pos)));
        }
        Ok(())
    }
}

/// Marshals `data` as a TPM2B (2-byte big-endian size, then the bytes).
pub(crate) fn tpm2b(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + data.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
    out
}
