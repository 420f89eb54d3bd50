//! A real PC/SC stack for tests: Debian's pcscd with vsmartcard's vpcd reader driver, and a
//! virtual FeliCa card (`assets/vfelica.py`) put on and taken off that reader. Programs under
//! test reach this pcscd, not the machine's, through the environment [`VirtualReader::socket_env`]
//! names; [`tools_present`] tells whether this machine can run it (pcscd needs root).
//!
//! pcscd 1.9.9 always serves `/run/pcscd/pcscd.comm` (only clients honour
//! `PCSCLITE_CSOCK_NAME`), so each `VirtualReader` runs its pcscd in a mount namespace of its own
//! (`unshare --mount`) with a tmpfs on `/run/pcscd`, and clients connect through
//! `/proc/<pcscd pid>/root/run/pcscd/pcscd.comm`: that path resolves inside pcscd's namespace,
//! and connecting to a Unix socket through it works (checked with `pcsc_scan -r`). Several
//! readers can run at once: their sockets, namespaces and vpcd ports differ. The namespace, and
//! with it the socket, goes away when pcscd exits.
//!
//! libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process, so this harness checks the reader
//! state in a child process too (Perl's Chipcard::PCSC, which Debian's pcsc-tools depends on),
//! and tests run the programs they check as child processes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The PC/SC name of the virtual reader's first slot, where the card goes.
pub const READER: &str = "Virtual PCD 00 00";

/// The environment variable libpcsclite clients read to find pcscd's socket.
pub const SOCKET_ENV: &str = "PCSCLITE_CSOCK_NAME";

/// How long the reader may take to show a card change (pcscd polls vpcd every 0.4 s).
const STATE_DEADLINE: Duration = Duration::from_secs(10);
/// How long pcscd may take to list the reader.
const START_DEADLINE: Duration = Duration::from_secs(5);
/// Between two looks at the reader state.
const POLL: Duration = Duration::from_millis(50);

/// Starts pcscd in a private mount namespace with a tmpfs on /run/pcscd; `$1` is the
/// reader.conf.d directory. `exec`s keep pcscd's pid the child's.
const PCSCD_SCRIPT: &str = "mkdir -p /run/pcscd \
    && mount -t tmpfs -o mode=0755,size=1m inkan-test-pcscd /run/pcscd \
    && exec pcscd --foreground --config \"$1\"";

/// Prints the state of the reader named by the first argument: `present` (a card with an
/// ATR), `absent`, `unknown` (no such reader) or `no-service`.
const STATE_SCRIPT: &str = r#"
use Chipcard::PCSC;
my $c = Chipcard::PCSC->new();
unless (defined $c) { print "no-service\n"; exit 0; }
my @r = ({reader_name => $ARGV[0], current_state => $Chipcard::PCSC::SCARD_STATE_UNAWARE});
unless ($c->GetStatusChange(\@r, 0)) { print "unknown\n"; exit 0; }
my $s = $r[0]{event_state};
if ($s & ($Chipcard::PCSC::SCARD_STATE_UNKNOWN | $Chipcard::PCSC::SCARD_STATE_IGNORE)) { print "unknown\n"; }
elsif (($s & $Chipcard::PCSC::SCARD_STATE_PRESENT) && !($s & $Chipcard::PCSC::SCARD_STATE_MUTE)
       && length($r[0]{ATR} // "") > 0) { print "present\n"; }
else { print "absent\n"; }
"#;

/// pcscd with a vpcd reader of its own and a virtual FeliCa card process; both killed when
/// dropped.
pub struct VirtualReader {
    pcscd: Child,
    card: Child,
    card_in: ChildStdin,
    card_out: BufReader<ChildStdout>,
    socket: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl VirtualReader {
    /// Starts pcscd with an empty virtual reader on free ports and waits until PC/SC lists it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("reader.conf.d");
        std::fs::create_dir(&conf).unwrap();
        let mut failures = Vec::new();
        // vpcd binds its ports itself: retry on the rare race with another process.
        for _ in 0..5 {
            let port = free_port_pair();
            std::fs::write(
                conf.join("vpcd"),
                format!(
                    "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:{port}\n\
                     LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID {port}\n"
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("pcscd.log")).unwrap();
            let mut pcscd = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(PCSCD_SCRIPT)
                .arg("sh")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("unshare (util-linux) and pcscd are needed");
            let socket = PathBuf::from(format!("/proc/{}/root/run/pcscd/pcscd.comm", pcscd.id()));
            match wait_for(&mut pcscd, &socket, "absent", START_DEADLINE) {
                Ok(()) => {
                    let (card, card_in, card_out) = start_card(dir.path(), port);
                    return Self {
                        pcscd,
                        card,
                        card_in,
                        card_out,
                        socket,
                        port,
                        dir,
                    };
                }
                Err(why) => {
                    let _ = pcscd.kill();
                    let _ = pcscd.wait();
                    failures.push(format!(
                        "port {port}: {why}\n{}",
                        std::fs::read_to_string(dir.path().join("pcscd.log")).unwrap_or_default()
                    ));
                }
            }
        }
        panic!(
            "pcscd with a vpcd reader did not start:\n{}",
            failures.join("\n")
        );
    }

    /// The reader's PC/SC name.
    pub fn reader(&self) -> &'static str {
        READER
    }

    /// The variable and value that point a child process's libpcsclite at this pcscd.
    pub fn socket_env(&self) -> (&'static str, String) {
        (SOCKET_ENV, self.socket.display().to_string())
    }

    /// The vpcd port of the reader's first slot (the card connects to it).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Puts a card with this IDm and PMm (16 hex digits each) on the reader, taking off the
    /// one there, and waits until PC/SC shows it.
    pub fn insert(&mut self, idm_hex: &str, pmm_hex: &str) {
        if query(&self.socket).as_deref() == Ok("present") {
            self.remove();
        }
        self.card_command(&format!("insert {idm_hex} {pmm_hex}"));
        self.wait_for("present");
    }

    /// Takes the card off the reader and waits until PC/SC shows it gone.
    pub fn remove(&mut self) {
        self.card_command("remove");
        self.wait_for("absent");
    }

    fn card_command(&mut self, command: &str) {
        writeln!(self.card_in, "{command}").unwrap();
        self.card_in.flush().unwrap();
        let mut line = String::new();
        self.card_out.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ok",
            "the virtual card refused {command:?}; its log: {}",
            std::fs::read_to_string(self.dir.path().join("card.log")).unwrap_or_default()
        );
    }

    fn wait_for(&mut self, state: &str) {
        if let Err(why) = wait_for(&mut self.pcscd, &self.socket, state, STATE_DEADLINE) {
            let ss = Command::new("ss")
                .args(["-tanp"])
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| l.contains(&format!(":{}", self.port)))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            panic!(
                "the reader did not become {state}: {why}\nsockets:\n{ss}\npcscd's log:\n{}",
                std::fs::read_to_string(self.dir.path().join("pcscd.log")).unwrap_or_default()
            );
        }
    }
}

impl Drop for VirtualReader {
    fn drop(&mut self) {
        let _ = self.card.kill();
        let _ = self.card.wait();
        let _ = self.pcscd.kill();
        let _ = self.pcscd.wait();
        // The socket lives in pcscd's namespace, which ends with it; make sure before the
        // next test looks.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether this machine can run a [`VirtualReader`]: root, pcscd, vpcd, unshare, python3 and
/// Perl's Chipcard::PCSC (Debian packages pcscd, vsmartcard-vpcd, libpcsc-perl).
pub fn tools_present() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let commands = ["pcscd", "unshare", "python3"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let perl = Command::new("perl")
        .args(["-MChipcard::PCSC", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    root && commands && perl && Path::new("/usr/lib/pcsc/drivers/serial/libifdvpcd.so").exists()
}

/// Polls the reader state until it is `state`, pcscd exits, or `deadline` passes.
fn wait_for(
    pcscd: &mut Child,
    socket: &Path,
    state: &str,
    deadline: Duration,
) -> Result<(), String> {
    let until = Instant::now() + deadline;
    let mut last = Err("not asked yet".to_string());
    while Instant::now() < until {
        if let Ok(Some(status)) = pcscd.try_wait() {
            return Err(format!("pcscd exited ({status})"));
        }
        last = query(socket);
        if last.as_deref() == Ok(state) {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
    Err(format!("after {deadline:?} the reader is {last:?}"))
}

/// The reader's state as [`STATE_SCRIPT`] prints it.
fn query(socket: &Path) -> Result<String, String> {
    let out = Command::new("perl")
        .arg("-e")
        .arg(STATE_SCRIPT)
        .arg(READER)
        .env(SOCKET_ENV, socket)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("perl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "perl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn start_card(dir: &Path, port: u16) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/vfelica.py");
    let mut card = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("card.log")).unwrap())
        .spawn()
        .expect("python3 is needed for the virtual card");
    let card_in = card.stdin.take().unwrap();
    let card_out = BufReader::new(card.stdout.take().unwrap());
    (card, card_in, card_out)
}

/// Ports N and N+1, free on all interfaces a moment ago: vpcd binds both, on 0.0.0.0.
fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = first.local_addr().unwrap().port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind(("0.0.0.0", next)).is_ok() {
            return port;
        }
    }
}
