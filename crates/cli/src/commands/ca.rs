use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use inkan_authority::{CaInitOptions, Config, DataDir};
use inkan_pki::{CertificateInfo, KeyAlgorithm};
use serde_json::json;

use crate::output::rfc3339;
use crate::running::{load_config, passphrase, root_crl_url, PassphraseArgs};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root CA and an online issuing CA in the data directory (refuses to overwrite).
    Init {
        /// Organization name used in the CA subjects.
        #[arg(long, default_value = "inkan")]
        name: String,
        /// Key algorithm: p256, p384, rsa3072 or ed25519.
        #[arg(long, default_value = "p256")]
        algorithm: String,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Configuration file whose `revocation.base_url` (or listeners) name where the root's
        /// CRL is published (default: inkan.toml in the data directory, if present).
        #[arg(long, env = "INKAN_CONFIG")]
        config: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show the CA certificates: subjects, fingerprints, validity, files.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

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
        let mut out = json!({
            "root": cert(&root, &paths.root_cert, &paths.root_key),
            "issuing": cert(&issuing, &paths.issuing_cert, &paths.issuing_key),
            "chain_path": paths.chain,
            "root_crl_path": paths.root_crl,
        });
        if let (Some(config), Some(map)) = (policy_config(data_dir), out.as_object_mut()) {
            map.insert("profiles".into(), profiles_json(&config));
            map.insert("est_labels".into(), json!(config.est.labels));
        }
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
    if let Some(config) = policy_config(data_dir) {
        print_profiles(&config);
    }
    Ok(())
}

/// The configuration whose profiles `ca show` reports; a broken one is named on stderr.
fn policy_config(data_dir: &DataDir) -> Option<Config> {
    match load_config(data_dir, None) {
        Ok(config) => Some(config),
        Err(e) => {
            eprintln!("profiles not shown: {e:#}");
            None
        }
    }
}

/// Who reaches each profile: EST labels (by secret, and holders), and the other methods.
fn reached_by(config: &Config, profile: &str) -> Vec<String> {
    let mut methods = Vec::new();
    let mut labels = config.labels_of(profile);
    if !config.est.labels.contains_key(profile) && config.est_label(profile).is_ok() {
        labels.insert(0, profile.to_string());
    }
    for label in labels {
        methods.push(format!("est-secret (label {label})"));
        if let Some(l) = config.est.labels.get(&label) {
            for holder in &l.holders {
                let products = if l.products.is_empty() {
                    String::new()
                } else {
                    format!(" of products {}", l.products.join(", "))
                };
                methods.push(format!(
                    "client-cert of {holder} holders{products} (label {label})"
                ));
            }
        }
    }
    match profile {
        "device" => methods.extend(["bootstrap-cert".into(), "psk".into()]),
        "tpm" => methods.push("tpm2".into()),
        "product" => methods.push("admin (inkan product create)".into()),
        "admin" => methods.push("admin (inkan admin cert create)".into()),
        "server" => methods.push("admin (the authority's own TLS certificate)".into()),
        _ => {}
    }
    if !matches!(profile, "product" | "admin" | "tpm") {
        methods.push("renewal (same subject, names, profile)".into());
    }
    methods
}

fn default_names(profile: &inkan_pki::Profile) -> &'static str {
    if matches!(profile.name.as_str(), "product" | "tpm") {
        "CN from the request; the URI is set by the authority"
    } else if profile.is_server() {
        "none until names.allow lists them"
    } else {
        "any name of the allowed SAN forms"
    }
}

fn profiles_json(config: &Config) -> serde_json::Value {
    let profiles: serde_json::Map<String, serde_json::Value> = config
        .profiles()
        .into_iter()
        .map(|(name, p)| {
            let value = json!({
                "level": p.level,
                "validity": inkan_pki::duration_text::format(&p.validity),
                "extended_key_usage": p.extended_key_usage,
                "san": p.san,
                "names": p.names,
                "names_by_default": default_names(&p),
                "reached_by": reached_by(config, &name),
            });
            (name, value)
        })
        .collect();
    serde_json::Value::Object(profiles)
}

fn print_profiles(config: &Config) {
    println!("profiles (who may obtain what):");
    for (name, p) in config.profiles() {
        println!(
            "  {name:<10} level {}  {}  EKU {:?}",
            p.level,
            inkan_pki::duration_text::format(&p.validity),
            p.extended_key_usage
        );
        println!("    reached by   {}", reached_by(config, &name).join("; "));
        if p.names.allow.is_empty() {
            println!("    names        {}", default_names(&p));
        }
        for (what, rules) in [("allow", &p.names.allow), ("deny", &p.names.deny)] {
            if let Ok(serde_json::Value::Object(lists)) = serde_json::to_value(rules) {
                for (kind, patterns) in lists {
                    println!("    {what:<12} {kind} = {patterns}");
                }
            }
        }
    }
}
