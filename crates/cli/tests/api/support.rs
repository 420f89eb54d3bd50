//! The shared harnesses of `inkan-test-support` under the name these tests use: a data
//! directory, the binary, a running server.

pub use inkan_test_support::server::*;

/// `inkan gateway` with `routes` (TOML `[[route]]` tables), its client CAs the authority's
/// chain, its TLS certificate from `authority` (which must allow localhost server names), and
/// following the authority's revocation stream.
#[cfg(feature = "tpm")]
pub fn gateway(env: &Env, authority: &Server, routes: &str) -> Server {
    let secret_file = env.tmp.path().join("server.secret");
    std::fs::write(&secret_file, env.secret("server")).unwrap();
    let config = env.tmp.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:0"
client_ca = ["{chain}"]

[tls_from_authority]
url = "{authority}"
ca = "{root}"
secret_file = "{secret_file}"
names = ["localhost", "127.0.0.1"]

[revocation]
authority = "{authority}"
authority_ca = "{root}"
{routes}"#,
            chain = env.data.join("ca/chain.pem").display(),
            authority = authority.url(),
            root = env.root_pem().display(),
            secret_file = secret_file.display(),
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(binary());
    cmd.args(["gateway", "--config"])
        .arg(&config)
        .env("INKAN_LOG", "warn");
    Server::start(cmd)
}

/// `inkan serve` trusting `swtpm`'s EK CA (`[tpm] ek_roots`) and allowing localhost server
/// names (for a gateway).
#[cfg(feature = "tpm")]
pub fn tpm_authority(env: &Env, swtpm: &inkan_test_support::swtpm::Swtpm) -> Server {
    let config = env.tmp.path().join("inkan.toml");
    std::fs::write(
        &config,
        format!(
            "[tpm]\nek_roots = [\"{}\", \"{}\"]\n{}",
            swtpm.ek_root().display(),
            swtpm.ek_issuer().display(),
            LOCAL_SERVER_NAMES
        ),
    )
    .unwrap();
    Server::start(env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ]))
}
