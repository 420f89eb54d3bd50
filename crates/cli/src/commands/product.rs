use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use clap::Subcommand;
use inkan_authority::{replace_file, Authority, DataDir, ProductParams, Registry};
use inkan_store::{ProductRecord, ProductStatus};

use super::open_store;
use crate::output::{rfc3339, table};
use crate::running::{load_config, passphrase, passphrase_line, PassphraseArgs};

#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Create a product and its ProductCert; writes the certificate chain and key (0600) once.
    Create {
        /// Product name (unique).
        name: String,
        /// At most this many devices may register.
        #[arg(long)]
        max_devices: Option<i64>,
        /// Validity of each device's certificate (d, h, m, s).
        #[arg(long, default_value = "365d")]
        device_validity: String,
        /// Device attributes the product allows, comma-separated (e.g. serial,mac).
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
        /// Directory for product.pem and product.key (default: ./<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write product.p12 (PKCS#12) protected by the passphrase in this file.
        #[arg(long)]
        p12_passphrase_file: Option<PathBuf>,
        /// Also let devices register with keys derived from a PSK group key.
        #[arg(long)]
        psk: bool,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List products.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one product with its policy and device count.
    Show {
        /// Product name or id.
        product: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// PSK (symmetric key) registration: device key = HMAC-SHA256(group key, registration id).
    #[command(subcommand)]
    Psk(PskCommand),
    /// Stop a product from registering new devices (existing certificates stay valid).
    Disable {
        /// Product name or id.
        product: String,
    },
    /// Let a disabled product register devices again.
    Enable {
        /// Product name or id.
        product: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PskCommand {
    /// Turn PSK registration on with a fresh group key (replaces an earlier key).
    Enable {
        /// Product name or id.
        product: String,
    },
    /// Turn PSK registration off (the group key is forgotten).
    Disable {
        /// Product name or id.
        product: String,
    },
    /// Print the key (base64) to flash into the unit with this registration id.
    Derive {
        /// Product name or id.
        product: String,
        /// The unit's registration id (1-128 of A-Z a-z 0-9 . _ : -), e.g. its serial number.
        registration_id: String,
    },
}

pub async fn run(data_dir: &DataDir, cmd: ProductCommand) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let registry = Registry::new(store.clone());
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    match cmd {
        ProductCommand::Create {
            name,
            max_devices,
            device_validity,
            attributes,
            out,
            p12_passphrase_file,
            psk,
            passphrase: pass,
            json,
        } => {
            let p12_passphrase = match &p12_passphrase_file {
                Some(path) => Some(p12_passphrase(path)?),
                None => None,
            };
            let validity =
                inkan_pki::duration_text::parse(&device_validity).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                max_devices.is_none_or(|m| m > 0),
                "--max-devices must be positive"
            );
            let dir = out.unwrap_or_else(|| std::path::PathBuf::from(&name));
            // The key is shown once: make sure it has somewhere to go before the product exists,
            // and take the directory away again if the product is refused.
            let made_dir = !dir.exists();
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let params = ProductParams {
                name: name.clone(),
                max_devices,
                device_validity: validity,
                attributes,
                pkcs12_passphrase: p12_passphrase,
                psk,
            };
            let created = match create(data_dir, config, &store, params, &pass, &actor).await {
                Ok(created) => created,
                Err(e) => {
                    if made_dir {
                        let _ = std::fs::remove_dir(&dir);
                    }
                    return Err(e);
                }
            };
            let (cert, key) = (dir.join("product.pem"), dir.join("product.key"));
            replace_file(&key, created.key_pem.as_bytes(), 0o600)?;
            replace_file(&cert, created.chain_pem.as_bytes(), 0o644)?;
            let p12 = match &created.pkcs12 {
                Some(bundle) => {
                    let path = dir.join("product.p12");
                    replace_file(&path, bundle, 0o600)?;
                    Some(path)
                }
                None => None,
            };
            let product = created.product.clone();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "product": product,
                        "cert_path": cert,
                        "key_path": key,
                        "p12_path": p12,
                    })
                );
            } else {
                println!(
                    "created product {} ({})",
                    created.product.name, created.product.id
                );
                println!(
                    "  ProductCert  {} (serial {})",
                    cert.display(),
                    created.product.cert_serial.unwrap_or_default()
                );
                println!(
                    "  key          {} (shown nowhere else; embed it with the certificate)",
                    key.display()
                );
                if let Some(p12) = &p12 {
                    println!("  PKCS#12      {} (certificate chain + key)", p12.display());
                }
                if psk {
                    println!(
                        "  PSK          on: `inkan product psk derive {} <registration-id>` gives each unit's key",
                        product.name
                    );
                }
                println!("a unit registers with EST simpleenroll, presenting the ProductCert as TLS client certificate");
            }
        }
        ProductCommand::List { json } => {
            let products = registry.products().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&products)?);
            } else if products.is_empty() {
                println!("no products");
            } else {
                let mut rows = Vec::new();
                for p in &products {
                    let count = registry.count_devices(&p.id).await?;
                    rows.push(vec![
                        p.name.clone(),
                        p.id.clone(),
                        p.status.to_string(),
                        match p.max_devices {
                            Some(max) => format!("{count}/{max}"),
                            None => count.to_string(),
                        },
                        rfc3339(p.created_at_ms / 1000),
                    ]);
                }
                table(&["NAME", "ID", "STATUS", "DEVICES", "CREATED"], &rows);
            }
        }
        ProductCommand::Show { product, json } => {
            let found = find(&registry, &product).await?;
            let devices = registry.count_devices(&found.id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"product": found, "devices": devices})
                    )?
                );
            } else {
                let max = found
                    .max_devices
                    .map_or_else(|| "no limit".to_string(), |m| m.to_string());
                println!("product      {} ({})", found.name, found.id);
                println!("status       {}", found.status);
                println!("devices      {devices} (max {max})");
                println!(
                    "validity     {} per device certificate",
                    inkan_pki::duration_text::format(&std::time::Duration::from_secs(
                        u64::try_from(found.device_validity_secs).unwrap_or(0)
                    ))
                );
                println!("attributes   {}", found.attributes.join(", "));
                println!(
                    "methods      ProductCert{}",
                    if found.psk { ", PSK" } else { "" }
                );
                println!(
                    "ProductCert  {}",
                    found.cert_serial.as_deref().unwrap_or("-")
                );
                println!("created      {}", rfc3339(found.created_at_ms / 1000));
            }
        }
        ProductCommand::Psk(PskCommand::Enable { product }) => {
            let found = find(&registry, &product).await?;
            let key = registry.enable_psk(&found, &actor).await?;
            println!(
                "PSK registration is on for {}; earlier PSK device keys no longer work",
                found.name
            );
            println!("group key (keep it secret; `inkan product psk derive` computes unit keys):");
            println!("{key}");
        }
        ProductCommand::Psk(PskCommand::Disable { product }) => {
            let found = find(&registry, &product).await?;
            registry.disable_psk(&found, &actor).await?;
            println!("PSK registration is off for {}", found.name);
        }
        ProductCommand::Psk(PskCommand::Derive {
            product,
            registration_id,
        }) => {
            let found = find(&registry, &product).await?;
            let key = registry.psk_device_key(&found, &registration_id).await?;
            println!("{}", base64::engine::general_purpose::STANDARD.encode(key));
        }
        ProductCommand::Disable { product } => {
            set_status(&registry, &product, ProductStatus::Disabled, &actor).await?
        }
        ProductCommand::Enable { product } => {
            set_status(&registry, &product, ProductStatus::Active, &actor).await?
        }
    }
    Ok(())
}

async fn find(registry: &Registry, product: &str) -> anyhow::Result<ProductRecord> {
    registry
        .product(product)
        .await?
        .with_context(|| format!("no product {product:?}: see `inkan product list`"))
}

async fn create(
    data_dir: &DataDir,
    config: inkan_authority::Config,
    store: &std::sync::Arc<dyn inkan_store::Store>,
    params: ProductParams,
    pass: &PassphraseArgs,
    actor: &str,
) -> anyhow::Result<inkan_authority::NewProduct> {
    let ca = data_dir.load_issuing_ca(passphrase(pass.passphrase_file.as_ref())?.as_deref())?;
    let authority = Authority::start(config, ca, store.clone()).await?;
    Ok(authority.create_product(params, actor).await?)
}

/// A PKCS#12 passphrase from a file: its first line, checked like every PKCS#12 passphrase.
fn p12_passphrase(path: &std::path::Path) -> anyhow::Result<String> {
    let line = passphrase_line(path)?;
    inkan_pki::check_pkcs12_passphrase(&line)
        .with_context(|| format!("the passphrase in {}", path.display()))?;
    Ok(line)
}

async fn set_status(
    registry: &Registry,
    product: &str,
    status: ProductStatus,
    actor: &str,
) -> anyhow::Result<()> {
    let (found, changed) = registry
        .set_product_status(product, status, actor)
        .await?
        .with_context(|| format!("no product {product:?}: see `inkan product list`"))?;
    println!(
        "product {} is {status}{}",
        found.name,
        if changed { "" } else { " (unchanged)" }
    );
    Ok(())
}
