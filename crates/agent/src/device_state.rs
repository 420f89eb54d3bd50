//! What an enrolled device keeps on disk, and renewal before expiry.
//!
//! A state directory holds `device.key` (PKCS#8, mode 0600), `device.pem` (DeviceCert then
//! issuing CA), `ca.pem` (the trust anchors for the authority) and `agent.json` (where the
//! authority is, the device id).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inkan_client::{client_tls_config, EstClient, EstCredentials};
use inkan_pki::{build_csr, certs_from_pem, der_to_pem, CertificateInfo, GeneratedKey, San};
use serde::{Deserialize, Serialize};

use crate::AgentError;

/// The non-secret facts of an enrolled device (`agent.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentInfo {
    /// `https://host:port` of the authority that renews the certificate.
    pub authority: String,
    /// The device's id in the registry.
    pub device_id: String,
}

/// An enrolled device's files.
#[derive(Clone, Debug)]
pub struct DeviceState {
    dir: PathBuf,
}

fn io_error(path: &Path, e: std::io::Error) -> AgentError {
    AgentError::Protocol(format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically (temporary file, then rename) with `mode`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io_error(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    file.sync_all().map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

impl DeviceState {
    /// The state in `dir` (which may not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `device.key`.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("device.key")
    }

    /// `device.pem`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("device.pem")
    }

    /// `ca.pem`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn info_path(&self) -> PathBuf {
        self.dir.join("agent.json")
    }

    /// The device key, made (and written 0600) on first use, so a retried enrollment keeps it.
    pub fn key_or_create(&self) -> Result<GeneratedKey, AgentError> {
        let path = self.key_path();
        if path.exists() {
            return self.key();
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let key = GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256)?;
        write_atomic(&path, key.to_pem(None)?.as_bytes(), 0o600)?;
        Ok(key)
    }

    /// The device key.
    pub fn key(&self) -> Result<GeneratedKey, AgentError> {
        let path = self.key_path();
        let pem = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        Ok(GeneratedKey::from_pem(&pem, None)?)
    }

    /// Saves the trust anchors, the certificate chain and the agent facts.
    pub fn save(
        &self,
        info: &AgentInfo,
        roots: &[Vec<u8>],
        chain: &[Vec<u8>],
    ) -> Result<(), AgentError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let roots_pem: String = roots.iter().map(|c| der_to_pem("CERTIFICATE", c)).collect();
        write_atomic(&self.ca_path(), roots_pem.as_bytes(), 0o644)?;
        self.save_chain(chain)?;
        let json =
            serde_json::to_vec_pretty(info).map_err(|e| AgentError::Protocol(e.to_string()))?;
        write_atomic(&self.info_path(), &json, 0o644)
    }

    fn save_chain(&self, chain: &[Vec<u8>]) -> Result<(), AgentError> {
        let pem: String = chain.iter().map(|c| der_to_pem("CERTIFICATE", c)).collect();
        write_atomic(&self.cert_path(), pem.as_bytes(), 0o644)
    }

    /// The agent facts.
    pub fn info(&self) -> Result<AgentInfo, AgentError> {
        let path = self.info_path();
        let bytes = std::fs::read(&path).map_err(|e| {
            AgentError::Protocol(format!(
                "{}: {e} (enroll first: `inkan agent enroll … --out {}`)",
                path.display(),
                self.dir.display()
            ))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| AgentError::Protocol(format!("{}: {e}", path.display())))
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> Result<Vec<Vec<u8>>, AgentError> {
        let path = self.cert_path();
        let pem = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        let chain = certs_from_pem(pem.as_bytes())?;
        if chain.is_empty() {
            return Err(AgentError::Protocol(format!(
                "{} holds no certificate",
                path.display()
            )));
        }
        Ok(chain)
    }

    /// The trust anchors.
    pub fn roots(&self) -> Result<Vec<Vec<u8>>, AgentError> {
        let path = self.ca_path();
        let pem = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        Ok(certs_from_pem(pem.as_bytes())?)
    }

    /// Renews the DeviceCert with EST `simplereenroll` (same key, same names), presenting the
    /// current certificate; the new chain replaces the old one only once it is received.
    pub async fn renew(&self) -> Result<CertificateInfo, AgentError> {
        let info = self.info()?;
        let key = self.key()?;
        let chain = self.chain()?;
        let current = CertificateInfo::parse(&chain[0])?;
        let common_name = current
            .typed_subject
            .as_ref()
            .and_then(|s| s.common_name())
            .unwrap_or(&info.device_id)
            .to_string();
        let sans: Vec<String> = current.sans.iter().map(San::value).collect();
        let csr = build_csr(&key, &common_name, &sans)?;
        let tls = client_tls_config(
            &self.roots()?,
            Some((chain.clone(), key.pkcs8_der().to_vec())),
        )?;
        let mut est = EstClient::connect(&info.authority, tls, None, EstCredentials::None).await?;
        let leaf = est.simplereenroll(&csr).await?;
        let renewed = CertificateInfo::parse(&leaf)?;
        let mut new_chain = vec![leaf];
        new_chain.extend(chain.into_iter().skip(1));
        self.save_chain(&new_chain)?;
        Ok(renewed)
    }
}

/// How long until the certificate valid `not_before..not_after` (Unix seconds) should be
/// renewed, at two thirds of its lifetime; zero when that time has passed.
pub fn renewal_due_in(not_before: i64, not_after: i64, now: i64) -> Duration {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    let due = not_before.saturating_add(lifetime * 2 / 3);
    Duration::from_secs(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        assert_eq!(renewal_due_in(0, 90, 0), Duration::from_secs(60));
        assert_eq!(renewal_due_in(0, 90, 59), Duration::from_secs(1));
        assert_eq!(renewal_due_in(0, 90, 60), Duration::ZERO);
        assert_eq!(renewal_due_in(0, 90, 1000), Duration::ZERO);
        assert_eq!(renewal_due_in(100, 50, 0), Duration::from_secs(100));
    }

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = DeviceState::new(dir.path().join("unit"));
        let first = state.key_or_create().unwrap();
        let again = state.key_or_create().unwrap();
        assert_eq!(first.pkcs8_der(), again.pkcs8_der());
        let mode = std::fs::metadata(state.key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
