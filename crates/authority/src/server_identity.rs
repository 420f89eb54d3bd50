use std::path::Path;

use inkan_pki::{
    build_csr, certs_from_pem, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm, San,
};

use crate::data_dir::{create_private_dir, replace_file};
use crate::{Authority, AuthorityError, DataDir, EnrollMethod, IssueRequest};

/// The authority's own HTTPS certificate (issued by itself) and key.
pub struct ServerIdentity {
    /// Leaf then issuing CA, DER.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER of the key.
    pub key_der: Vec<u8>,
}

impl ServerIdentity {
    /// Reuses `tls/server.pem` while it covers `names` and has over a third of its life left;
    /// otherwise issues a new one through the normal pipeline (so it is recorded and audited).
    pub async fn load_or_issue(
        authority: &Authority,
        data_dir: &DataDir,
        names: &[String],
    ) -> Result<Self, AuthorityError> {
        let dir = data_dir.tls_dir();
        let cert_path = dir.join("server.pem");
        let key_path = dir.join("server.key");
        if let Some(identity) = reusable(authority, &cert_path, &key_path, names) {
            return Ok(identity);
        }
        let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
        let common_name = names.first().cloned().unwrap_or_else(|| "localhost".into());
        let csr_der = build_csr(&key, &common_name, names)?;
        let issued = authority
            .issue(IssueRequest {
                csr_der,
                profile: "server".into(),
                method: EnrollMethod::Admin {
                    actor: "server-startup".into(),
                },
                validity: None,
                label: None,
            })
            .await?;
        let chain = vec![issued.der, authority.ca().cert_der().to_vec()];
        create_private_dir(&dir)?;
        let pem: String = chain.iter().map(|c| der_to_pem("CERTIFICATE", c)).collect();
        replace_file(&key_path, key.to_pem(None)?.as_bytes(), 0o600)?;
        replace_file(&cert_path, pem.as_bytes(), 0o644)?;
        Ok(Self {
            chain,
            key_der: key.pkcs8_der().to_vec(),
        })
    }
}

fn reusable(
    authority: &Authority,
    cert_path: &Path,
    key_path: &Path,
    names: &[String],
) -> Option<ServerIdentity> {
    let chain = certs_from_pem(&std::fs::read(cert_path).ok()?).ok()?;
    let leaf = CertificateInfo::parse(chain.first()?).ok()?;
    if chain.get(1).map(Vec::as_slice) != Some(authority.ca().cert_der()) {
        return None;
    }
    let now = authority.now().unix_timestamp();
    let life = leaf.not_after - leaf.not_before;
    if leaf.not_after - now < life / 3 {
        return None;
    }
    let mut wanted: Vec<String> = names.iter().map(|n| San::guess(n).to_string()).collect();
    let mut have: Vec<String> = leaf.sans.iter().map(ToString::to_string).collect();
    wanted.sort();
    have.sort();
    if wanted != have {
        return None;
    }
    let key = GeneratedKey::from_pem(&std::fs::read_to_string(key_path).ok()?, None).ok()?;
    let leaf_spki = inkan_pki::sha256_hex(&key.public_key_der());
    (leaf_spki == leaf.spki_sha256).then(|| ServerIdentity {
        chain,
        key_der: key.pkcs8_der().to_vec(),
    })
}
