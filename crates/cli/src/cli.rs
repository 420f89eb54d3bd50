use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// inkan — device identity without passwords: an online CA with EST enrollment.
#[derive(Debug, Parser)]
#[command(name = "inkan", version, propagate_version = true)]
pub struct Cli {
    /// Data directory: CA files, database, configuration.
    #[arg(
        long,
        global = true,
        env = "INKAN_DATA_DIR",
        default_value = "./inkan-data"
    )]
    pub data_dir: PathBuf,
    /// More log output on stderr (-v, -vv). INKAN_LOG=... sets a filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine for a first look: CA, authority, one enrolled demo device.
    Quickstart(QuickstartArgs),
    /// Run the authority: EST enrollment over HTTPS.
    Serve(ServeArgs),
    /// Run the authenticating reverse proxy in front of existing web services.
    Gateway(GatewayArgs),
    /// Create and inspect the certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Product lines: a ProductCert per product bootstraps each unit's own certificate.
    #[command(subcommand)]
    Product(ProductCommand),
    /// Devices registered by their products.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The device side: enrollment (product bootstrap, PSK or TPM attestation), renewal, and a
    /// local proxy that adds the device's client certificate.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Inspect issued certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// EST enrollment settings.
    #[command(subcommand)]
    Est(EstCommand),
    /// Administrator credentials for the /v1 API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Load generators that measure a running authority.
    #[command(subcommand)]
    Bench(BenchCommand),
}

impl Command {
    /// True for commands that serve or hold network connections for long (servers, the agent's
    /// renewal loop and proxy, load generators): they must survive a peer closing its socket.
    pub fn talks_to_peers(&self) -> bool {
        matches!(
            self,
            Self::Quickstart(_)
                | Self::Serve(_)
                | Self::Gateway(_)
                | Self::Agent(_)
                | Self::Bench(_)
        )
    }
}

#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// File holding the CA key passphrase (first line). Or set INKAN_CA_PASSPHRASE.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: inkan.toml in the data directory, if present).
    #[arg(long, env = "INKAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration (port 0 picks a free port).
    #[arg(long, env = "INKAN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Also serve CRLs and OCSP over plain HTTP on this address (as relying parties expect).
    #[arg(long, env = "INKAN_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    /// The gateway configuration (see docs/gateway.md).
    #[arg(long, env = "INKAN_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Print an nginx server block that gives nginx the same checks (for sites that keep nginx).
    NginxConfig(NginxConfigArgs),
}

#[derive(Debug, Args)]
pub struct NginxConfigArgs {
    /// Upstream the site proxies to.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub upstream: String,
    /// listen directive value.
    #[arg(long, default_value = "443 ssl")]
    pub listen: String,
    /// server_name.
    #[arg(long, default_value = "_")]
    pub server_name: String,
    /// nginx's own certificate chain (PEM).
    #[arg(long, default_value = "/etc/nginx/inkan/server.pem")]
    pub cert: String,
    /// nginx's own key.
    #[arg(long, default_value = "/etc/nginx/inkan/server.key")]
    pub key: String,
    /// Base URL of the authority's plain-HTTP revocation listener (for OCSP and the CRL URL).
    #[arg(long)]
    pub revocation_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Address to listen on (default 127.0.0.1:8443, or a free port if that is taken).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Enroll the demo device, print the summary and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

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

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List issued certificates, newest first.
    List {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only this status: valid or revoked.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one certificate by serial (hex, colons allowed).
    Show {
        /// Serial number.
        serial: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print the certificate as PEM.
        #[arg(long, conflicts_with = "json")]
        pem: bool,
    },
    /// Revoke a certificate (durable and audited; revoking again keeps the first time and reason).
    Revoke {
        /// Serial number.
        serial: String,
        /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
        /// superseded, cessationOfOperation, privilegeWithdrawn, aACompromise.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Also revoke every certificate that was enrolled with this one (as TLS client
        /// certificate), recursively.
        #[arg(long)]
        cascade: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate as the gateway would (path, validity, purpose, name) and optionally
    /// its revocation (--crl FILE or --ocsp). Exit 0 valid, 1 invalid, 2 usage error.
    Verify(crate::commands::cert_verify::CertVerifyArgs),
}

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

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// First boot: make a device key, register with the product's bootstrap credential and
    /// store the device's own certificate.
    Enroll(Box<AgentEnrollArgs>),
    /// Renew the device certificate (EST simplereenroll) when two thirds of its life are over.
    Renew(AgentRenewArgs),
    /// Forward plain local HTTP to an https:// upstream, authenticating with the device's
    /// certificate and key (--tpm: the key stays in the TPM).
    Proxy(crate::commands::agent_tpm::AgentProxyArgs),
}

#[derive(Debug, Args)]
pub struct AgentEnrollArgs {
    /// The authority, https://HOST:PORT.
    #[arg(long, env = "INKAN_AUTHORITY")]
    pub authority: String,
    /// Trust anchor(s) for the authority's TLS certificate (PEM), e.g. the CA's root.pem.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// The product's bootstrap credential: product.p12 (PKCS#12) or product.pem (then also
    /// --bootstrap-key).
    #[arg(long, conflicts_with_all = ["psk_key_file", "tpm"])]
    pub bootstrap: Option<PathBuf>,
    /// The ProductCert key (PEM), with a PEM --bootstrap.
    #[arg(long)]
    pub bootstrap_key: Option<PathBuf>,
    /// File with the passphrase of a PKCS#12 --bootstrap (first line). Or INKAN_P12_PASSPHRASE.
    #[arg(long)]
    pub bootstrap_passphrase_file: Option<PathBuf>,
    /// File with this unit's PSK device key (base64, from `inkan product psk derive`).
    #[arg(long, requires_all = ["product", "registration_id"], conflicts_with = "tpm")]
    pub psk_key_file: Option<PathBuf>,
    /// Product name or id (PSK registration).
    #[arg(long)]
    pub product: Option<String>,
    /// This unit's registration id (PSK registration).
    #[arg(long)]
    pub registration_id: Option<String>,
    /// Device attribute kept in the registry (not the certificate), e.g. --info serial=SN-1.
    #[arg(long = "info", value_name = "KEY=VALUE")]
    pub info: Vec<String>,
    /// Enroll a key created inside this machine's TPM 2.0, proven by its endorsement key
    /// (EK certificate → credential activation → TPM2_Certify): a level-3 certificate.
    #[arg(long)]
    pub tpm: bool,
    /// TPM to use (TCTI): device:/dev/tpmrm0, tabrmd:bus_type=system, swtpm:host=H,port=P.
    /// Default: $TPM2TOOLS_TCTI, $TCTI, else device:/dev/tpmrm0.
    #[arg(long, requires = "tpm")]
    pub tcti: Option<String>,
    /// Persistent handle for the new TPM key (must be free).
    #[arg(long, requires = "tpm", default_value = "0x81000101")]
    pub handle: String,
    /// Common name asked for in the TPM-bound certificate (default: this machine's host name).
    #[arg(long, requires = "tpm")]
    pub name: Option<String>,
    /// State directory: device.key (0600), device.pem, ca.pem, agent.json — or, with --tpm,
    /// chain.pem, tpm-key.json and the key's TPM blobs (which only load in this TPM).
    #[arg(long, default_value = "inkan-agent")]
    pub out: PathBuf,
    /// Machine-readable output (--tpm).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentRenewArgs {
    /// State directory written by `inkan agent enroll`.
    #[arg(long, default_value = "inkan-agent")]
    pub dir: PathBuf,
    /// Renew now, whatever the remaining lifetime.
    #[arg(long)]
    pub force: bool,
    /// Keep running: renew every time two thirds of the certificate's life are over.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List devices, newest first.
    List {
        /// Only this product (name or id).
        #[arg(long)]
        product: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
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

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Admin API tokens (Authorization: Bearer ...).
    #[command(subcommand)]
    Token(AdminTokenCommand),
    /// Admin client certificates (TLS client authentication to the /v1 API).
    #[command(subcommand)]
    Cert(AdminCertCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCertCommand {
    /// Make a key and an admin-profile certificate for NAME; writes admin.pem (certificate and
    /// issuing CA) and admin.key (0600). Revoke it with `inkan cert revoke`.
    Create {
        /// Who holds it (the certificate's common name; recorded in the audit log).
        name: String,
        /// Directory for admin.pem and admin.key (default: ./admin-<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token; prints it once, as the last line (only its SHA-256 is stored).
    Create {
        /// A name for the token, recorded in the audit log of everything it does.
        #[arg(long, default_value = "admin")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EstCommand {
    /// Manage enrollment secrets (HTTP Basic passwords per EST label).
    #[command(subcommand)]
    Secret(EstSecretCommand),
}

#[derive(Debug, Subcommand)]
pub enum EstSecretCommand {
    /// Create (or replace) the secret of LABEL; prints it once, as the last line.
    Create {
        /// The EST label (a profile name, or a label from the configuration).
        label: String,
        /// Configuration file (to check the label exists).
        #[arg(long, env = "INKAN_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and cross-check issued certificates; exit 1 if broken.
    Verify {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// EST simpleenroll throughput over TLS keep-alive, compared with this machine's limit.
    Enroll(BenchEnrollArgs),
    /// Full device registrations per second: a new TLS connection with the ProductCert, a
    /// CSR, a DeviceCert — compared with this machine's enroll limit.
    Register(BenchRegisterArgs),
    /// OCSP responses per second over HTTP keep-alive, from pre-built DER requests.
    Ocsp(BenchOcspArgs),
    /// Time to generate and sign a CRL with N revoked entries (in memory, no server).
    Crl(BenchCrlArgs),
    /// GET throughput through a TLS front with a client certificate (inkan gateway, nginx, ...).
    Gateway(BenchGatewayArgs),
}

#[derive(Debug, Args)]
pub struct BenchRegisterArgs {
    /// The authority's URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The ProductCert chain (PEM) of a product whose cap admits --count devices.
    #[arg(long)]
    pub product_cert: PathBuf,
    /// The ProductCert's key (PEM).
    #[arg(long)]
    pub product_key: PathBuf,
    /// Parallel registrations.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Devices to register in total (each with its own new key).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchGatewayArgs {
    /// The URL to GET (https:// for a TLS front, http:// for an upstream directly).
    #[arg(long)]
    pub url: String,
    /// Trust anchor PEM for an https:// URL.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) to present.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PKCS#8 PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Parallel connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 50_000)]
    pub count: usize,
    /// A new connection (full TLS handshake) for every request instead of keep-alive.
    #[arg(long)]
    pub new_connections: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchOcspArgs {
    /// The OCSP responder URL (http:// or https://), e.g. http://127.0.0.1:8080/ocsp.
    #[arg(long)]
    pub url: String,
    /// Issuer certificate (PEM) of the certificates asked about.
    #[arg(long)]
    pub issuer: PathBuf,
    /// Certificates (PEM files) to ask about; requests cycle through them.
    #[arg(long = "cert", required = true)]
    pub certs: Vec<PathBuf>,
    /// Trust anchor for an https:// URL (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Parallel connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// One request per connection (for responders without keep-alive, such as `openssl ocsp`).
    #[arg(long)]
    pub no_keepalive: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchCrlArgs {
    /// Revoked entries on the CRL.
    #[arg(long, default_value_t = 100_000)]
    pub entries: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchEnrollArgs {
    /// The authority's URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// EST label.
    #[arg(long, default_value = "device")]
    pub label: String,
    /// The label's enrollment secret.
    #[arg(long, env = "INKAN_EST_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Parallel keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Certificates to request in total.
    #[arg(long, default_value_t = 5000)]
    pub count: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}
