use anyhow::Context;
use inkan_authority::DataDir;

use super::open_store;
use crate::cli::DeviceCommand;
use crate::output::{rfc3339, table};
use crate::running::load_config;

pub async fn run(data_dir: &DataDir, cmd: DeviceCommand) -> anyhow::Result<()> {
    let DeviceCommand::List {
        product,
        limit,
        json,
    } = cmd;
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let product_id = match &product {
        Some(p) => Some(
            store
                .product(p)
                .await?
                .with_context(|| format!("no product {p:?}: see `inkan product list`"))?
                .id,
        ),
        None => None,
    };
    let devices = store.devices(product_id.as_deref(), limit).await?;
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
                    d.status.clone(),
                    rfc3339(d.created_at_ms / 1000),
                ]
            })
            .collect();
        table(&["DEVICE", "PRODUCT", "STATUS", "REGISTERED"], &rows);
    }
    Ok(())
}
