//! An HTTP echo server (python's http.server) to stand behind a gateway or a proxy: it answers
//! with what it received, so tests can check what the upstream saw.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A tiny upstream (python's http.server) that answers GET, POST and PUT with the path and
/// headers it received and the methods of every request so far (`seen`).
pub struct Upstream {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Upstream {
    /// Starts it on a free loopback port.
    pub fn start() -> Self {
        let script = r#"
import http.server, json
seen = []
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen.append(self.command)
        body = json.dumps({"path": self.path, "seen": seen, "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = answer
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            port: line.trim().parse().unwrap(),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The values of header `name` (lower case) in an echo, in the order received.
pub fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap())
        .collect()
}
