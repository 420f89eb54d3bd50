use anyhow::Context;
use inkan_authority::{CaInitOptions, DataDir};
use inkan_pki::{CertificateInfo, KeyAlgorithm};
use serde_json::json;

use crate::cli::CaCommand;
use crate::output::rfc3339;
use crate::running::{load_config, passphrase, root_crl_url};

pub async fn run(data_dir: &DataDir, cmd: CaCommand) -> anyhow::Result<()> {
    match cmd {
        CaCommand::Init {
            name,
            algorithm,
            passphrase: pass,
            config,
            json,
        } => {
            let algorithm: KeyAlgorithm = algorithm.parse()?;
            let config = load_config(data_dir, config.as_deref())?;
            let root_crl_url = root_crl_url(&config);
            if config.revocation_urls_are_local() {
                tracing::warn!(
                    url = %root_crl_url,
                    "revocation.base_url is not set: the issuing CA certificate tells relying \
                     parties to fetch the root's CRL from {root_crl_url}, which only this machine \
                     reaches; set revocation.base_url in inkan.toml before `inkan ca init`"
                );
            }
            let options = CaInitOptions {
                name,
                algorithm,
                passphrase: passphrase(pass.passphrase_file.as_ref())?,
                root_crl_url: Some(root_crl_url),
            };
            let encrypted = options.passphrase.is_some();
            data_dir.init_ca(&options, time::OffsetDateTime::now_utc())?;
            if !json {
                println!(
                    "created a {algorithm} root CA and issuing CA in {}{}",
                    data_dir.root().display(),
                    if encrypted { " (keys encrypted)" } else { "" }
                );
            }
            show(data_dir, json)
        }
        CaCommand::Show { json } => show(data_dir, json),
    }
}

/// Prints both CA certificates; `--json` gives subjects, fingerprints and file paths.
pub fn show(data_dir: &DataDir, json: bool) -> anyhow::Result<()> {
    let paths = data_dir.ca_paths();
    let root = CertificateInfo::parse(&data_dir.root_der()?).context("reading the root CA")?;
    let issuing =
        CertificateInfo::parse(&data_dir.issuing_der()?).context("reading the issuing CA")?;
    if json {
        let cert = |info: &CertificateInfo, cert: &std::path::Path, key: &std::path::Path| {
            json!({
                "subject": info.subject,
                "issuer": info.issuer,
                "serial": info.serial,
                "sha256_fingerprint": info.fingerprint_sha256,
                "not_before": rfc3339(info.not_before),
                "not_after": rfc3339(info.not_after),
                "cert_path": cert,
                "key_path": key,
            })
        };
        let out = json!({
            "root": cert(&root, &paths.root_cert, &paths.root_key),
            "issuing": cert(&issuing, &paths.issuing_cert, &paths.issuing_key),
            "chain_path": paths.chain,
            "root_crl_path": paths.root_crl,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for (label, info, cert, key) in [
        ("root CA", &root, &paths.root_cert, &paths.root_key),
        (
            "issuing CA",
            &issuing,
            &paths.issuing_cert,
            &paths.issuing_key,
        ),
    ] {
        println!("{label}:");
        println!("  subject      {}", info.subject);
        println!("  sha256       {}", info.fingerprint_sha256);
        println!(
            "  valid        {} .. {}",
            rfc3339(info.not_before),
            rfc3339(info.not_after)
        );
        println!("  certificate  {}", cert.display());
        println!("  key          {}", key.display());
    }
    println!("chain (issuing + root): {}", paths.chain.display());
    Ok(())
}
