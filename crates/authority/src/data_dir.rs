use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use inkan_pki::{certs_from_pem, der_to_pem, CaSet, GeneratedKey, IssuingCa, KeyAlgorithm};
use serde::Serialize;
use time::OffsetDateTime;

use crate::AuthorityError;

/// The data directory: CA files, TLS identity, database and configuration.
///
/// ```text
/// inkan.toml            optional configuration
/// inkan.db              SQLite database (default backend)
/// ca/root.pem           root CA certificate
/// ca/root.key           root CA key (0600; move it offline once the issuing CA exists)
/// ca/issuing.pem        issuing CA certificate
/// ca/issuing.key        issuing CA key (0600)
/// ca/chain.pem          issuing + root, for relying parties
/// tls/server.pem|.key   the authority's own HTTPS identity, issued by itself
/// ```
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

/// Where the CA files are.
#[derive(Clone, Debug, Serialize)]
pub struct CaPaths {
    /// Root certificate.
    pub root_cert: PathBuf,
    /// Root key.
    pub root_key: PathBuf,
    /// Issuing certificate.
    pub issuing_cert: PathBuf,
    /// Issuing key.
    pub issuing_key: PathBuf,
    /// Issuing + root PEM bundle.
    pub chain: PathBuf,
}

/// Options for `inkan ca init`.
#[derive(Clone, Debug)]
pub struct CaInitOptions {
    /// Organization name used in the CA subjects.
    pub name: String,
    /// Key algorithm for both CA keys.
    pub algorithm: KeyAlgorithm,
    /// Encrypt both key files with this passphrase.
    pub passphrase: Option<Vec<u8>>,
}

impl DataDir {
    /// A data directory at `root` (not created until needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The default configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("inkan.toml")
    }

    /// The default database URL.
    pub fn database_url(&self) -> String {
        format!("sqlite:{}", self.root.join("inkan.db").display())
    }

    /// CA file paths.
    pub fn ca_paths(&self) -> CaPaths {
        let ca = self.root.join("ca");
        CaPaths {
            root_cert: ca.join("root.pem"),
            root_key: ca.join("root.key"),
            issuing_cert: ca.join("issuing.pem"),
            issuing_key: ca.join("issuing.key"),
            chain: ca.join("chain.pem"),
        }
    }

    /// Directory of the authority's own TLS identity.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// Whether a CA has been initialised here.
    pub fn has_ca(&self) -> bool {
        self.ca_paths().issuing_cert.exists()
    }

    /// Creates the root and issuing CAs; refuses if any CA file exists.
    pub fn init_ca(
        &self,
        options: &CaInitOptions,
        now: OffsetDateTime,
    ) -> Result<CaPaths, AuthorityError> {
        let paths = self.ca_paths();
        for p in [
            &paths.root_cert,
            &paths.root_key,
            &paths.issuing_cert,
            &paths.issuing_key,
        ] {
            if p.exists() {
                return Err(AuthorityError::Ca(format!(
                    "{} already exists: this data directory has a CA. Use another --data-dir, \
                     or remove the ca/ folder if you really mean to start over",
                    p.display()
                )));
            }
        }
        let set = CaSet::create(&options.name, options.algorithm, now)?;
        let pass = options.passphrase.as_deref();
        create_private_dir(&self.root)?;
        create_private_dir(&self.root.join("ca"))?;
        write_new(
            &paths.root_key,
            set.root_key.to_pem(pass)?.as_bytes(),
            0o600,
        )?;
        write_new(
            &paths.issuing_key,
            set.issuing_key.to_pem(pass)?.as_bytes(),
            0o600,
        )?;
        write_new(
            &paths.root_cert,
            der_to_pem("CERTIFICATE", &set.root_der).as_bytes(),
            0o644,
        )?;
        write_new(
            &paths.issuing_cert,
            der_to_pem("CERTIFICATE", &set.issuing_der).as_bytes(),
            0o644,
        )?;
        let chain = format!(
            "{}{}",
            der_to_pem("CERTIFICATE", &set.issuing_der),
            der_to_pem("CERTIFICATE", &set.root_der)
        );
        write_new(&paths.chain, chain.as_bytes(), 0o644)?;
        Ok(paths)
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> Result<Vec<u8>, AuthorityError> {
        read_cert(&self.ca_paths().root_cert)
    }

    /// The issuing certificate, DER.
    pub fn issuing_der(&self) -> Result<Vec<u8>, AuthorityError> {
        read_cert(&self.ca_paths().issuing_cert)
    }

    /// Loads the issuing CA with its key, decrypting it with `passphrase` if it is encrypted.
    pub fn load_issuing_ca(&self, passphrase: Option<&[u8]>) -> Result<IssuingCa, AuthorityError> {
        let paths = self.ca_paths();
        let cert = self.issuing_der()?;
        let root = self.root_der()?;
        let pem = fs::read_to_string(&paths.issuing_key)
            .map_err(|e| AuthorityError::io(&paths.issuing_key, e))?;
        let key = GeneratedKey::from_pem(&pem, passphrase)
            .map_err(|e| AuthorityError::Ca(format!("{}: {e}", paths.issuing_key.display())))?;
        Ok(IssuingCa::new(&cert, key, &root)?)
    }
}

fn read_cert(path: &Path) -> Result<Vec<u8>, AuthorityError> {
    let pem = fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AuthorityError::Ca(format!(
                "{} not found: run `inkan ca init` first (or pass the right --data-dir)",
                path.display()
            ))
        } else {
            AuthorityError::io(path, e)
        }
    })?;
    certs_from_pem(&pem)?
        .into_iter()
        .next()
        .ok_or_else(|| AuthorityError::Ca(format!("{} holds no certificate", path.display())))
}

/// Creates a directory (and parents) readable by the owner only.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), AuthorityError> {
    fs::create_dir_all(path).map_err(|e| AuthorityError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| AuthorityError::io(path, e))?;
    }
    Ok(())
}

/// Writes a file that must not exist yet, with `mode` from the first byte on.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthorityError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options
        .open(path)
        .map_err(|e| AuthorityError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| AuthorityError::io(path, e))
}

/// Replaces a file atomically (write to a temporary sibling, then rename), with `mode`
/// (use 0o600 for anything secret).
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthorityError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|e| AuthorityError::io(path, e))
}

#[cfg(test)]
mod tests;
