//! `inkan agent attest location`: a signed location report (RFC 9711 EAT, COSE_Sign1) made
//! with an application's key in the key service, over a fresh challenge from the authority.

use std::path::PathBuf;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use clap::{Args, Subcommand};
use http::Method;
use inkan_agent::keyd::call;
use inkan_attest::{ueid_of, LocationClaims, UnsignedEat};
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{certs_from_pem, CertificateInfo};
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Sign where this device is, for the authority (or any COSE verifier) to check.
    Location(LocationArgs),
}

#[derive(Debug, Args)]
pub struct LocationArgs {
    /// The authority, https://HOST:PORT (it hands out the challenge, and --verify asks it).
    #[arg(long, env = "INKAN_AUTHORITY")]
    pub authority: String,
    /// Trust anchor(s) for the authority's TLS certificate (PEM).
    #[arg(long)]
    pub ca_file: PathBuf,
    /// The key service's socket.
    #[arg(long, default_value = "/run/inkan-keyd.sock")]
    pub socket: PathBuf,
    /// This application's key in the key service.
    #[arg(long)]
    pub key: String,
    /// Latitude, degrees (WGS84).
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    /// Longitude, degrees (WGS84).
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// Accuracy, metres.
    #[arg(long)]
    pub accuracy: Option<f64>,
    /// Write the COSE_Sign1 here (binary); base64 goes to stdout either way.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also ask the authority to verify it, print its verdict, and fail unless accepted.
    #[arg(long)]
    pub verify: bool,
}

pub async fn run(cmd: AttestCommand) -> anyhow::Result<()> {
    match cmd {
        AttestCommand::Location(args) => location(args).await,
    }
}

async fn post(connection: &mut HttpConnection, path: &str, body: &Value) -> anyhow::Result<Value> {
    let (status, _, answer) = connection
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json".to_string())],
            Bytes::from(body.to_string()),
        )
        .await?;
    let value: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{path}: {status}: {}",
            value["detail"].as_str().unwrap_or("refused")
        );
    }
    Ok(value)
}

async fn location(args: LocationArgs) -> anyhow::Result<()> {
    let chain = call(&args.socket, &json!({"op": "certificate", "key": args.key})).await?;
    let pem = chain["certificate"].as_str().unwrap_or_default();
    let leaf = certs_from_pem(pem.as_bytes())?
        .into_iter()
        .next()
        .context("the key service returned no certificate")?;
    let info = CertificateInfo::parse(&leaf)?;
    let uid = info
        .sans
        .iter()
        .find_map(|s| {
            s.to_string()
                .strip_prefix("URI:urn:inkan:tee:")
                .map(str::to_string)
        })
        .context("the key's certificate is not a TEE-provisioned one (no urn:inkan:tee: name)")?;

    let roots = certs_from_pem(
        &std::fs::read(&args.ca_file)
            .with_context(|| format!("reading {}", args.ca_file.display()))?,
    )?;
    let target = HttpTarget::parse(&args.authority)?;
    let mut connection = HttpConnection::connect(&target, client_tls_config(&roots, None)?).await?;
    let query = post(
        &mut connection,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": uid}),
    )
    .await?;
    let nonce = B64
        .decode(query["challenge"].as_str().unwrap_or_default())
        .context("the authority's challenge is not base64")?;

    let unsigned = UnsignedEat::location(
        &info.serial,
        &LocationClaims {
            ueid: ueid_of(&uid),
            nonce,
            iat: time::OffsetDateTime::now_utc().unix_timestamp(),
            latitude: args.lat,
            longitude: args.lon,
            accuracy: args.accuracy,
        },
    )?;
    let signed = call(
        &args.socket,
        &json!({"op": "sign", "key": args.key, "data": B64.encode(unsigned.to_be_signed())}),
    )
    .await?;
    let signature = B64
        .decode(signed["signature"].as_str().unwrap_or_default())
        .context("the key service's signature is not base64")?;
    let token = unsigned.finish(&signature)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &token).with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{}", B64.encode(&token));
    if args.verify {
        let verdict = post(
            &mut connection,
            "/v1/attestations/verify",
            &json!({"eat": B64.encode(&token)}),
        )
        .await?;
        eprintln!("{}", serde_json::to_string_pretty(&verdict)?);
        if verdict["verdict"] != "accepted" {
            anyhow::bail!(
                "the authority refused the report: {}",
                verdict["reason"].as_str().unwrap_or("no reason given")
            );
        }
    }
    Ok(())
}
