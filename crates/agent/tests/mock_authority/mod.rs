//! A stand-in for the authority's `/v1/tpm/*` endpoints that follows the wire contract, so the
//! agent's whole enrollment runs before the real endpoints exist. MakeCredential runs in the same
//! TPM (as a public-key operation); the checks are the contract's essentials (secret, nonce, key
//! name, CSR signature), not the authority's full verification.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use inkan_agent::tpm::{name_of, Tpm};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use ring::rand::SecureRandom;
use serde_json::{json, Value};
use tss_esapi::structures::{Attest, AttestInfo, Public};
use tss_esapi::traits::UnMarshall;

struct Pending {
    id: String,
    secret: Vec<u8>,
    nonce: Vec<u8>,
    ak_public: Public,
}

struct State {
    tpm: Arc<Tpm>,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    pending: Mutex<Option<Pending>>,
}

/// The running mock: its URL and the CA (DER) that signs its TLS certificate and what it issues.
pub struct MockAuthority {
    pub url: String,
    pub ca_der: Vec<u8>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockAuthority {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockAuthority {
    pub async fn start(tpm: Arc<Tpm>) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mock authority CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            tpm,
            issuer,
            ca_pem: ca_cert.pem(),
            pending: Mutex::new(None),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("https://localhost:{port}"),
            ca_der: ca_cert.der().to_vec(),
            task,
        }
    }
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return reply(StatusCode::BAD_REQUEST, json!({"title": "not JSON"}));
    };
    match path.as_str() {
        "/v1/tpm/activations" => activation(state, &json),
        "/v1/tpm/enrollments" => enrollment(state, &json),
        _ => reply(StatusCode::NOT_FOUND, json!({"title": "not found"})),
    }
}

fn activation(state: &State, json: &Value) -> Response<Full<Bytes>> {
    assert!(
        json["ek_certificate"].is_string(),
        "swtpm has an EK certificate"
    );
    let ek_public = Public::unmarshall(&field(json, "ek_public")).unwrap();
    let ak_public = Public::unmarshall(&field(json, "ak_public")).unwrap();
    assert!(ak_public.object_attributes().restricted());
    let secret = random(32);
    let nonce = random(32);
    let (blob, encrypted) = state
        .tpm
        .make_credential(&ek_public, &secret, &name_of(&ak_public).unwrap())
        .unwrap();
    let id = "0123456789abcdef0123456789abcdef".to_string();
    *state.pending.lock().unwrap() = Some(Pending {
        id: id.clone(),
        secret,
        nonce: nonce.clone(),
        ak_public,
    });
    reply(
        StatusCode::CREATED,
        json!({
            "activation_id": id,
            "credential_blob": B64.encode(blob),
            "encrypted_secret": B64.encode(encrypted),
            "nonce": B64.encode(nonce),
            "expires_at": "2099-01-01T00:00:00Z",
        }),
    )
}

fn enrollment(state: &State, json: &Value) -> Response<Full<Bytes>> {
    let Some(pending) = state.pending.lock().unwrap().take() else {
        return reply(
            StatusCode::CONFLICT,
            json!({"detail": "activation already used"}),
        );
    };
    assert_eq!(json["activation_id"], pending.id.as_str());
    if field(json, "secret") != pending.secret {
        return reply(
            StatusCode::FORBIDDEN,
            json!({"detail": "credential-activated"}),
        );
    }
    let attest = Attest::unmarshall(&field(json, "attest")).unwrap();
    assert_eq!(attest.extra_data().value(), pending.nonce, "attest-nonce");
    let key_public = Public::unmarshall(&field(json, "key_public")).unwrap();
    let AttestInfo::Certify { info } = attest.attested() else {
        panic!("not a certify attestation");
    };
    assert_eq!(
        info.name().value(),
        name_of(&key_public).unwrap(),
        "key-name"
    );
    assert!(key_public.object_attributes().fixed_tpm(), "key-fixed-tpm");
    let _ = pending.ak_public;
    let csr_der = field(json, "csr");
    // from_der checks the CSR's signature (made by the TPM).
    let csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.into()).unwrap();
    let cert = csr.signed_by(&state.issuer).unwrap();
    let chain = format!("{}{}", cert.pem(), state.ca_pem);

    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use ring::hkdf::{Salt, HKDF_SHA256};
    let prk = Salt::new(HKDF_SHA256, pending.id.as_bytes()).extract(&pending.secret);
    let okm = prk
        .expand(&[b"inkan tpm delivery v1"], &AES_256_GCM)
        .unwrap();
    let key = LessSafeKey::new(UnboundKey::from(okm));
    let nonce: [u8; 12] = random(12).try_into().unwrap();
    let mut data = chain.into_bytes();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .unwrap();
    reply(
        StatusCode::CREATED,
        json!({
            "serial": "0a1b2c", "level": 3,
            "delivery": {"alg": "A256GCM", "nonce": B64.encode(nonce), "ciphertext": B64.encode(data)},
        }),
    )
}

fn field(json: &Value, name: &str) -> Vec<u8> {
    B64.decode(json[name].as_str().unwrap()).unwrap()
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}
