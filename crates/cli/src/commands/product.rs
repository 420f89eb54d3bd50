use anyhow::Context;
use inkan_authority::{replace_file, unix_ms, Authority, DataDir};

use super::open_store;
use crate::cli::ProductCommand;
use crate::output::{rfc3339, table};
use crate::running::{load_config, passphrase};

pub async fn run(data_dir: &DataDir, cmd: ProductCommand) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
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
            passphrase: pass,
            json,
        } => {
            let validity =
                inkan_pki::duration_text::parse(&device_validity).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                max_devices.is_none_or(|m| m > 0),
                "--max-devices must be positive"
            );
            let ca =
                data_dir.load_issuing_ca(passphrase(pass.passphrase_file.as_ref())?.as_deref())?;
            let authority = Authority::start(config, ca, store).await?;
            let created = authority
                .create_product(&name, max_devices, validity, attributes, &actor)
                .await?;
            let dir = out.unwrap_or_else(|| std::path::PathBuf::from(&name));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let (cert, key) = (dir.join("product.pem"), dir.join("product.key"));
            replace_file(&key, created.key_pem.as_bytes(), 0o600)?;
            replace_file(&cert, created.chain_pem.as_bytes(), 0o644)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "product": created.product,
                        "cert_path": cert,
                        "key_path": key,
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
                println!("a unit registers with EST simpleenroll, presenting the ProductCert as TLS client certificate");
            }
        }
        ProductCommand::List { json } => {
            let products = store.products().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&products)?);
            } else if products.is_empty() {
                println!("no products");
            } else {
                let mut rows = Vec::new();
                for p in &products {
                    let count = store.devices(Some(&p.id), i64::MAX).await?.len();
                    rows.push(vec![
                        p.name.clone(),
                        p.id.clone(),
                        p.status.clone(),
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
        ProductCommand::Disable { product } => {
            set_status(&*store, &product, "disabled", &actor).await?
        }
        ProductCommand::Enable { product } => {
            set_status(&*store, &product, "active", &actor).await?
        }
    }
    Ok(())
}

async fn set_status(
    store: &dyn inkan_store::Store,
    product: &str,
    status: &str,
    actor: &str,
) -> anyhow::Result<()> {
    let found = store
        .product(product)
        .await?
        .with_context(|| format!("no product {product:?}: see `inkan product list`"))?;
    let changed = store
        .set_product_status(
            &found.id,
            status,
            actor,
            unix_ms(time::OffsetDateTime::now_utc()),
        )
        .await?;
    println!(
        "product {} is {status}{}",
        found.name,
        if changed { "" } else { " (unchanged)" }
    );
    Ok(())
}
