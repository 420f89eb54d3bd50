use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use inkan_pki::{
    certs_from_pem, crl_summary, der_to_pem, CaSet, CrlParams, GeneratedKey, IssuingCa,
    KeyAlgorithm, RootCa, SoftwareKey,
};
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
/// ca/root.crl           the root's CRL (DER), served at /crl/root.crl
/// ca/sealing.key        the key sealing secrets at rest in the database (0600)
/// tls/server.pem|.key   the authority's own HTTPS identity, issued by itself
/// ```
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    /// The database named on the command line, over the configuration's.
    database_url: Option<String>,
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
    /// The root's CRL (DER).
    pub root_crl: PathBuf,
    /// The key sealing secrets at rest (TA profiles' SK_CSR, device models' masters).
    pub sealing_key: PathBuf,
}

/// How long a root CRL is valid: the root key is meant to be offline, so a year, as the CA/B
/// Forum allows for offline roots; the authority re-signs it at half of that while the root
/// key is present.
pub const ROOT_CRL_VALIDITY: time::Duration = time::Duration::days(365);

/// Options for `inkan ca init`.
#[derive(Clone, Debug)]
pub struct CaInitOptions {
    /// Organization name used in the CA subjects.
    pub name: String,
    /// Key algorithm for both CA keys.
    pub algorithm: KeyAlgorithm,
    /// Encrypt both key files with this passphrase.
    pub passphrase: Option<Vec<u8>>,
    /// The root CRL's URL, written into the issuing CA certificate as its CRL distribution
    /// point (see [`crate::Config::revocation_base_url`]).
    pub root_crl_url: Option<String>,
}

impl DataDir {
    /// A data directory at `root` (not created until needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            database_url: None,
        }
    }

    /// The same directory with its database named explicitly (`--database-url`,
    /// `INKAN_DATABASE_URL`): that URL wins over the configuration's `database_url`.
    pub fn with_database_url(mut self, url: Option<String>) -> Self {
        self.database_url = url;
        self
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The default configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("inkan.toml")
    }

    /// The default database URL: `inkan.db` in the data directory.
    pub fn database_url(&self) -> String {
        format!("sqlite:{}", self.root.join("inkan.db").display())
    }

    /// The database this data directory's authority uses: the one named explicitly (see
    /// [`DataDir::with_database_url`]), else the configuration's `database_url`, else
    /// [`DataDir::database_url`].
    pub fn resolve_database_url(&self, config: &crate::Config) -> String {
        self.database_url
            .clone()
            .or_else(|| config.database_url.clone())
            .unwrap_or_else(|| self.database_url())
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
            root_crl: ca.join("root.crl"),
            sealing_key: ca.join("sealing.key"),
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
        let set = CaSet::create_with_crl_url(
            &options.name,
            options.algorithm,
            now,
            options.root_crl_url.as_deref(),
        )?;
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
        let root_crl = sign_root_crl(&set.root_ca()?, 1, now)?;
        write_new(&paths.root_crl, &root_crl, 0o644)?;
        self.sealing_key()?;
        Ok(paths)
    }

    /// The key sealing secrets at rest: `ca/sealing.key`, created (0600) if this CA was made
    /// before it existed. Replicas copy it with the rest of `ca/`.
    pub fn sealing_key(&self) -> Result<crate::SealingKey, AuthorityError> {
        let path = self.ca_paths().sealing_key;
        if !path.exists() {
            create_private_dir(&self.root.join("ca"))?;
            let (_, hex_key) = crate::SealingKey::generate();
            match write_new(&path, format!("{hex_key}\n").as_bytes(), 0o600) {
                Ok(()) => {}
                // Another process made it first: use that one.
                Err(_) if path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        crate::SealingKey::load(&path)
    }

    /// The root's CRL (DER) to publish. It is re-signed (next CRL number) when it is missing or
    /// past half its validity and the root key is here; without the root key the file is used
    /// as it is, and [`RootCrlState`] says how long it lasts.
    pub fn root_crl(
        &self,
        passphrase: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<RootCrlState, AuthorityError> {
        let paths = self.ca_paths();
        let current = match fs::read(&paths.root_crl) {
            Ok(der) => Some(der),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AuthorityError::io(&paths.root_crl, e)),
        };
        let summary = current
            .as_deref()
            .map(crl_summary)
            .transpose()
            .map_err(|e| AuthorityError::Ca(format!("{}: {e}", paths.root_crl.display())))?;
        let fresh = summary.as_ref().is_some_and(|s| {
            s.next_update
                .is_some_and(|next| now.unix_timestamp() < next - (next - s.this_update) / 2)
        });
        if fresh || !paths.root_key.exists() {
            return Ok(RootCrlState {
                next_update: summary.as_ref().and_then(|s| s.next_update),
                der: current,
                renewed: false,
            });
        }
        let pem = fs::read_to_string(&paths.root_key)
            .map_err(|e| AuthorityError::io(&paths.root_key, e))?;
        let key = GeneratedKey::from_pem(&pem, passphrase)
            .and_then(SoftwareKey::new)
            .map_err(|e| AuthorityError::Ca(format!("{}: {e}", paths.root_key.display())))?;
        let root = RootCa::new(&self.root_der()?, key)?;
        let number = summary.map_or(1, |s| s.number + 1);
        let der = sign_root_crl(&root, number, now)?;
        replace_file(&paths.root_crl, &der, 0o644)?;
        Ok(RootCrlState {
            next_update: Some((now + ROOT_CRL_VALIDITY).unix_timestamp()),
            der: Some(der),
            renewed: true,
        })
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
            .and_then(SoftwareKey::new)
            .map_err(|e| AuthorityError::Ca(format!("{}: {e}", paths.issuing_key.display())))?;
        Ok(IssuingCa::new(&cert, key, &root)?)
    }
}

/// The root CRL as [`DataDir::root_crl`] found or made it.
#[derive(Clone, Debug)]
pub struct RootCrlState {
    /// The CRL (DER), if there is one.
    pub der: Option<Vec<u8>>,
    /// Its nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// Whether it was signed just now.
    pub renewed: bool,
}

/// An empty root CRL: inkan's roots sign only issuing CAs, and none has been revoked.
fn sign_root_crl(
    root: &RootCa,
    number: u64,
    now: OffsetDateTime,
) -> Result<Vec<u8>, AuthorityError> {
    Ok(root.sign_crl(&CrlParams {
        number,
        this_update: now,
        next_update: now + ROOT_CRL_VALIDITY,
        entries: Vec::new(),
    })?)
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
