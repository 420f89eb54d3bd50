use anyhow::Context;
use clap::Subcommand;
use inkan_authority::{DataDir, DevicePage, PageCursor, Registry};
use inkan_pki::CertificateInfo;
use inkan_store::DeviceStatus;

use super::open_store;
use crate::output::{rfc3339, table};
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List devices, newest first, one page at a time: when more follow, stderr says
    /// `next: <cursor>`; pass it to `--after` for the next page.
    List {
        /// Only this product (name or id).
        #[arg(long)]
        product: Option<String>,
        /// At most this many (one page).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Continue after this cursor: the `next` cursor the previous page printed.
        #[arg(long, value_name = "CURSOR")]
        after: Option<PageCursor>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a device: attributes, status and the certificates it received.
    Show {
        /// Device id.
        device: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Stop a device from renewing or registering again (revoke its certificate to cut it off).
    Disable {
        /// Device id.
        device: String,
    },
    /// Let a disabled device renew again.
    Enable {
        /// Device id.
        device: String,
    },
}

pub async fn run(data_dir: &DataDir, cmd: DeviceCommand) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let registry = Registry::new(open_store(data_dir, &config).await?);
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    match cmd {
        DeviceCommand::List {
            product,
            limit,
            after,
            json,
        } => {
            let product_id = match &product {
                Some(p) => Some(
                    registry
                        .product(p)
                        .await?
                        .with_context(|| format!("no product {p:?}: see `inkan product list`"))?
                        .id,
                ),
                None => None,
            };
            let DevicePage { devices, next } = registry
                .device_page(product_id.as_deref(), after.as_ref(), limit as usize)
                .await?;
            // stdout keeps its shape (a JSON array with --json); the cursor of the next page,
            // if any, goes to stderr: `inkan device list --after <cursor>` continues.
            if let Some(next) = &next {
                eprintln!("next: {next}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&devices)?);
            } else if devices.is_empty() {
                println!("no devices");
            } else {
                let rows: Vec<Vec<String>> = devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.clone(),
                            d.product_id.clone(),
                            d.status.to_string(),
                            rfc3339(d.created_at_ms / 1000),
                            rfc3339(d.last_seen_ms / 1000),
                        ]
                    })
                    .collect();
                table(
                    &["DEVICE", "PRODUCT", "STATUS", "REGISTERED", "LAST SEEN"],
                    &rows,
                );
            }
        }
        DeviceCommand::Show { device, json } => {
            let found = registry
                .device(&device)
                .await?
                .with_context(|| format!("no device {device:?}: see `inkan device list`"))?;
            let certificates = registry.device_certificates(&found.id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"device": found, "certificates": certificates})
                    )?
                );
                return Ok(());
            }
            println!("device       {}", found.id);
            println!("product      {}", found.product_id);
            println!("status       {}", found.status);
            if let Some(id) = &found.registration_id {
                println!("registration {id} (PSK)");
            }
            println!("attributes   {}", found.attributes);
            println!("key sha256   {}", found.spki_sha256);
            println!("registered   {}", rfc3339(found.created_at_ms / 1000));
            println!("last seen    {}", rfc3339(found.last_seen_ms / 1000));
            let rows: Vec<Vec<String>> = certificates
                .iter()
                .map(|c| {
                    let subject = CertificateInfo::parse(&c.der)
                        .map(|i| i.subject)
                        .unwrap_or_default();
                    vec![
                        c.serial.clone(),
                        subject,
                        rfc3339(c.not_after),
                        c.issuer.clone(),
                    ]
                })
                .collect();
            println!();
            table(&["SERIAL", "SUBJECT", "NOT AFTER", "ISSUER"], &rows);
        }
        DeviceCommand::Disable { device } => {
            set_status(&registry, &device, DeviceStatus::Disabled, &actor).await?
        }
        DeviceCommand::Enable { device } => {
            set_status(&registry, &device, DeviceStatus::Active, &actor).await?
        }
    }
    Ok(())
}

async fn set_status(
    registry: &Registry,
    device: &str,
    status: DeviceStatus,
    actor: &str,
) -> anyhow::Result<()> {
    let (_, changed) = registry
        .set_device_status(device, status, actor)
        .await?
        .with_context(|| format!("no device {device:?}: see `inkan device list`"))?;
    println!(
        "device {device} is {status}{}",
        if changed { "" } else { " (unchanged)" }
    );
    Ok(())
}
