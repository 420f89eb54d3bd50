//! `inkan agent card`: the local card helper a gateway's login page reads FeliCa cards through
//! (PC/SC, DESIGN §4.5), and the one-shot card read behind `inkan pin issue --reader`.

use std::net::SocketAddr;

use clap::Args;

/// `inkan agent card`.
#[derive(Debug, Args)]
pub struct AgentCardArgs {
    /// The gateway's origin, the one web page allowed to read cards: https://HOST[:PORT].
    #[arg(long)]
    pub origin: String,
    /// Where to answer (plain HTTP, loopback only). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:47120")]
    pub listen: SocketAddr,
    /// The reader, by its PC/SC name (as `pcsc_scan -r` lists it); default: the first.
    #[arg(long)]
    pub reader: Option<String>,
    /// The FeliCa system code reported with each card (4 hex digits; 0003 for transport cards
    /// such as Suica).
    #[arg(long, default_value = "0003", value_parser = parse_system_code)]
    pub system_code: [u8; 2],
    /// Also answer requests without an Origin header (curl, scripts on this machine); any
    /// local program can then read the card on the reader.
    #[arg(long)]
    pub allow_no_origin: bool,
    /// Trust anchors (PEM) of the gateway's TLS certificate: with it, the helper binds card
    /// sessions to the card, reporting to the gateway while the card stays on the reader.
    #[arg(long)]
    pub gateway_ca: Option<std::path::PathBuf>,
}

/// What `read_card_blocking` read off the card on a reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardOnReader {
    /// The card's IDm.
    pub idm: [u8; 8],
    /// The card's PMm, when the reader hands it out.
    pub pmm: Option<[u8; 8]>,
    /// The reader's PC/SC name.
    pub reader: String,
}

/// Runs `inkan agent card` until Ctrl-C.
pub async fn run(args: AgentCardArgs) -> anyhow::Result<()> {
    serve(args).await
}

/// Reads the card on `reader` (PC/SC name; `None`: the first reader) once, synchronously (run
/// it in `spawn_blocking` from async code); an error when the reader has no card.
#[cfg(feature = "pcsc")]
pub fn read_card_blocking(reader: Option<&str>) -> anyhow::Result<CardOnReader> {
    let card = inkan_agent::card_reader::read_card(reader)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no card on the reader {}: put the card on it and try again",
            reader.unwrap_or("(the first one)")
        )
    })?;
    Ok(CardOnReader {
        idm: card.idm,
        pmm: card.pmm,
        reader: card.reader,
    })
}

/// Without PC/SC support there is no reader to read.
#[cfg(not(feature = "pcsc"))]
pub fn read_card_blocking(_reader: Option<&str>) -> anyhow::Result<CardOnReader> {
    anyhow::bail!("{NO_PCSC}")
}

#[cfg(not(feature = "pcsc"))]
const NO_PCSC: &str =
    "this inkan was built without PC/SC support: build with --features pcsc (needs libpcsclite-dev)";

#[cfg(feature = "pcsc")]
async fn serve(args: AgentCardArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use inkan_agent::card_helper::{self, CardHelperConfig, WebOrigin};

    let origin = WebOrigin::parse(&args.origin)?;
    card_helper::ensure_loopback(args.listen)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let gateway_tls = match &args.gateway_ca {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let roots = inkan_pki::certs_from_pem(&pem)
                .with_context(|| format!("{}: no PEM certificates", path.display()))?;
            Some(inkan_client::client_tls_config(&roots, None)?)
        }
        None => None,
    };
    let config = CardHelperConfig {
        origin,
        reader: args.reader,
        system_code: args.system_code,
        allow_no_origin: args.allow_no_origin,
        gateway_tls,
    };
    println!(
        "card helper listening on http://{address} for {}",
        config.origin
    );
    tokio::select! {
        served = card_helper::serve_card_helper(listener, config) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[cfg(not(feature = "pcsc"))]
async fn serve(_args: AgentCardArgs) -> anyhow::Result<()> {
    anyhow::bail!("{NO_PCSC}")
}

fn parse_system_code(text: &str) -> Result<[u8; 2], String> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 2]>::try_from(bytes).ok())
        .ok_or_else(|| format!("{text:?} is not a system code: use 4 hex digits, e.g. 0003"))
}
