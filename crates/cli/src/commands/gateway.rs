use std::sync::Arc;

use anyhow::Context;
use inkan_gateway::{gateway_router, Gateway, GatewayConfig, RevokedSet};
use inkan_pki::{certs_from_pem, subject_der, GeneratedKey};
use tokio::net::TcpListener;

use crate::cli::GatewayArgs;
use crate::running::termination_signal;

/// `inkan gateway --config FILE`: serves until SIGINT/SIGTERM, then drains and exits 0.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let mut config = GatewayConfig::load(&args.config).map_err(anyhow::Error::msg)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let revoked = RevokedSet::new(config.revocation.fail_closed_after);
    let from_crls = revoked
        .load_crls(&config.revocation.crl_files)
        .map_err(anyhow::Error::msg)?;
    if from_crls > 0 {
        tracing::info!(entries = from_crls, "loaded CRL files");
    }
    if let Some(authority) = &config.revocation.authority {
        let anchors = match &config.revocation.authority_ca {
            Some(path) => certs_from_pem(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )?,
            None => config
                .client_ca
                .iter()
                .map(|p| Ok(certs_from_pem(&std::fs::read(p)?)?))
                .collect::<anyhow::Result<Vec<_>>>()?
                .concat(),
        };
        let tls = inkan_agent::client_tls_config(&anchors, None)?;
        tokio::spawn(revoked.clone().follow(authority.clone(), tls));
    }
    let gateway = Arc::new(Gateway::new(&config, revoked).map_err(anyhow::Error::msg)?);

    let chain = certs_from_pem(
        &std::fs::read(&config.cert)
            .with_context(|| format!("reading {}", config.cert.display()))?,
    )?;
    let key = GeneratedKey::from_pem(
        &std::fs::read_to_string(&config.key)
            .with_context(|| format!("reading {}", config.key.display()))?,
        None,
    )?;
    let mut hints = Vec::new();
    for file in &config.client_ca {
        for ca in certs_from_pem(&std::fs::read(file)?)? {
            hints.push(subject_der(&ca)?);
        }
    }
    let tls = inkan_server::server_tls_config(&chain, key.pkcs8_der(), hints)?;
    let signal = termination_signal()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    println!("listening on https://{}", listener.local_addr()?);
    inkan_server::serve(listener, tls, gateway_router(gateway), signal).await?;
    Ok(())
}
