//! Real package registries on loopback, for tests that need a client or a probe to reach one:
//! Verdaccio (an npm registry), pypiserver (a PyPI index) and a Go module proxy served from
//! files (Go's GOPROXY protocol is plain files over HTTP). `scripts/test` installs Verdaccio
//! and pypiserver, pinned, under `target/registries`; a test that cannot find them fails and
//! says so.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::repository_root;

/// A registry process listening on a loopback port; stopped when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it keeps what it serves.
    pub dir: TempDir,
}

impl Registry {
    /// `http://127.0.0.1:PORT/` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `scripts/test` installs the registries.
fn installed() -> PathBuf {
    repository_root().join("target/registries")
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// Starts `command` (listening on `port`) and waits until the port takes connections.
fn start(mut command: Command, what: &str, port: u16, dir: TempDir) -> Registry {
    let log = std::fs::File::create(dir.path().join("registry.log")).expect("a log file");
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log file again"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let registry = Registry { child, port, dir };
    let until = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(registry.dir.path().join("registry.log"));
        assert!(
            Instant::now() < until,
            "{what} did not listen on port {port} within 60 s: {}",
            log.unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    registry
}

/// Fails the test, saying how to install what is missing.
fn missing(what: &str, path: &Path) -> ! {
    panic!(
        "{what} is not installed at {}: scripts/test installs it (pinned) before the tests run",
        path.display()
    )
}

/// Verdaccio serving npm packages from a folder of its own, with no uplink: it answers
/// `-/ping` and what was published to it, and nothing else.
pub fn verdaccio() -> Registry {
    let program = installed().join("node_modules/.bin/verdaccio");
    if !program.exists() {
        missing("Verdaccio", &program);
    }
    let dir = tempfile::tempdir().expect("a folder for Verdaccio");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "storage: {}\nuplinks: {{}}\npackages:\n  '**':\n    access: $all\n    publish: $all\n\
             log: {{type: stdout, format: pretty, level: warn}}\n",
            dir.path().join("storage").display()
        ),
    )
    .expect("Verdaccio's configuration");
    let port = free_port();
    let mut command = Command::new(program);
    command
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    start(command, "Verdaccio", port, dir)
}

/// pypiserver serving the packages in a folder of its own (`dir/packages`), without
/// authentication: its simple index is at `simple/`.
pub fn pypiserver() -> Registry {
    let library = installed().join("python");
    if !library.join("pypiserver").exists() {
        missing("pypiserver", &library);
    }
    let dir = tempfile::tempdir().expect("a folder for pypiserver");
    let packages = dir.path().join("packages");
    std::fs::create_dir_all(&packages).expect("pypiserver's package folder");
    let port = free_port();
    let mut command = Command::new("python3");
    command
        .env("PYTHONPATH", &library)
        .args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-a", ".", "-P", "."])
        .arg(&packages);
    start(command, "pypiserver", port, dir)
}

/// A Go module proxy: the files of a folder of its own served over HTTP (Python's
/// `http.server`), laid out as GOPROXY's protocol asks (`MODULE/@v/list`, `.info`, `.mod`,
/// `.zip`).
pub fn go_file_proxy() -> Registry {
    let dir = tempfile::tempdir().expect("a folder for the Go proxy");
    let port = free_port();
    let mut command = Command::new("python3");
    command
        .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(dir.path())
        .arg(port.to_string());
    start(command, "a Go proxy from files", port, dir)
}

/// Publishes a package `name@version` (whose `index.js` exports `version`) to Verdaccio with
/// the real `npm publish`; Verdaccio takes any token for it.
pub fn publish_npm_package(verdaccio: &Registry, name: &str, version: &str) {
    let folder = tempfile::tempdir().expect("a folder for the package");
    let package = folder.path().join("package");
    std::fs::create_dir_all(&package).expect("the package's folder");
    std::fs::write(
        package.join("package.json"),
        format!(r#"{{"name": "{name}", "version": "{version}", "main": "index.js"}}"#),
    )
    .expect("package.json");
    std::fs::write(
        package.join("index.js"),
        format!("module.exports = \"{version}\";\n"),
    )
    .expect("index.js");
    let token = format!("--//127.0.0.1:{}/:_authToken=publisher", verdaccio.port);
    let mut npm = Command::new("npm");
    npm.args(["publish", "--registry", &verdaccio.url(""), &token])
        .current_dir(&package)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", folder.path())
        .env("npm_config_update_notifier", "false");
    succeed(npm, "npm publish");
}

/// Runs `command`, failing the test with what it said unless it succeeds.
fn succeed(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Puts a wheel of `name` `version` (one module whose `VERSION` is `version`) where
/// pypiserver serves it. The wheel is made by hand, as PEP 427 lays one out, so that nothing
/// is built or fetched.
pub fn publish_wheel(pypiserver: &Registry, name: &str, version: &str) {
    const MAKE: &str = r#"
import base64, hashlib, sys, zipfile
folder, name, version = sys.argv[1:4]
module = name.replace("-", "_")
info = f"{module}-{version}.dist-info"
files = {
    f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: switchyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(f"{folder}/{module}-{version}-py3-none-any.whl", "w") as wheel:
    for path, data in files.items():
        wheel.writestr(path, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
"#;
    let mut python = Command::new("python3");
    python
        .args(["-c", MAKE])
        .arg(pypiserver.dir.path().join("packages"))
        .args([name, version]);
    succeed(python, "python3 making a wheel");
}

/// Serves the files of `dir` on `port` of 127.0.0.1 with Python's `http.server`, recording
/// each request's path and `Authorization` header in `requests.log`; with `authorization`,
/// any request for a path other than `open` without that exact header is answered 401 with
/// `challenge` as its `WWW-Authenticate`.
fn recorded_files(
    what: &str,
    dir: TempDir,
    port: u16,
    authorization: Option<String>,
    challenge: &str,
    open: &str,
) -> Registry {
    const SERVE: &str = r#"
import http.server, json, os, sys
folder, port, expected, challenge, open_path = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=folder, **kwargs)
    def allowed(self):
        sent = self.headers.get("Authorization") or ""
        with open(os.path.join(folder, "requests.log"), "a") as log:
            log.write(json.dumps({"path": self.path, "authorization": sent}) + "\n")
        if expected and sent != expected and self.path != open_path:
            self.send_response(401)
            self.send_header("WWW-Authenticate", challenge)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        return True
    def do_GET(self):
        if self.allowed():
            super().do_GET()
    def do_HEAD(self):
        if self.allowed():
            super().do_HEAD()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;
    let mut command = Command::new("python3");
    command
        .args(["-c", SERVE])
        .arg(dir.path())
        .arg(port.to_string())
        .args([
            authorization.as_deref().unwrap_or_default(),
            challenge,
            open,
        ]);
    start(command, what, port, dir)
}

/// What a registry of [`recorded_files`] (`cargo_registry`, `maven_repository`) was asked, in
/// order: (path, `Authorization` as sent).
pub fn requests(registry: &Registry) -> Vec<(String, String)> {
    let log = std::fs::read_to_string(registry.dir.path().join("requests.log")).unwrap_or_default();
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
            (text("path"), text("authorization"))
        })
        .collect()
}

/// A Cargo sparse registry (Cargo book, `registry-index.md`): the files of a folder of its own
/// (`index/config.json`, `index/<prefix>/<name>`, `crates/<name>/<version>/download`), served
/// and recorded by [`recorded_files`]; with a `token`, a registry that requires
/// authentication (`auth-required` in its `config.json`). The index is at `index/`.
pub fn cargo_registry(token: Option<&str>) -> Registry {
    let dir = tempfile::tempdir().expect("a folder for the Cargo registry");
    let port = free_port();
    let index = dir.path().join("index");
    std::fs::create_dir_all(&index).expect("the registry's index folder");
    let config = serde_json::json!({
        "dl": format!("http://127.0.0.1:{port}/crates"),
        "auth-required": token.is_some(),
    });
    std::fs::write(index.join("config.json"), config.to_string()).expect("config.json");
    recorded_files(
        "the Cargo registry",
        dir,
        port,
        token.map(str::to_owned),
        "Cargo login_url=\"http://127.0.0.1/me\"",
        "/index/config.json",
    )
}

/// `Authorization: Basic ...` for `user` and `password` (RFC 7617).
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A folder of its own (with `folder` in it) served and recorded by [`recorded_files`]; with
/// a `login`, asking for HTTP Basic authentication.
fn basic_served(what: &str, folder: &str, login: Option<(&str, &str)>) -> Registry {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a folder for {what}: {e}"));
    std::fs::create_dir_all(dir.path().join(folder)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let authorization = login.map(|(user, password)| basic(user, password));
    recorded_files(
        what,
        dir,
        free_port(),
        authorization,
        "Basic realm=\"switchyard-test\"",
        "",
    )
}

/// A Maven repository (Maven's "Repository Layout": `group/as/folders/artifact/version/`),
/// served and recorded by [`recorded_files`]; with a `login` (`user`, `password`), one that
/// asks for HTTP Basic authentication. Its layout starts at `maven2/`.
pub fn maven_repository(login: Option<(&str, &str)>) -> Registry {
    basic_served("the Maven repository", "maven2", login)
}

/// A gem server as RubyGems' static index lays one out (`specs.4.8.gz`,
/// `latest_specs.4.8.gz`, `quick/Marshal.4.8/<gem>.gemspec.rz`, `gems/<gem>.gem`, made by
/// `gem generate_index`), served and recorded by [`recorded_files`]; with a `login` (`user`,
/// `password`), one that asks for HTTP Basic authentication. [`publish_gem`] puts gems in it.
pub fn gem_source(login: Option<(&str, &str)>) -> Registry {
    basic_served("the gem server", "gems", login)
}

/// Builds gem `name` `version` (one file, `lib/<name>.rb`) with the real `gem build`, puts it
/// where [`gem_source`] serves it, and indexes the server again with `gem generate_index`.
pub fn publish_gem(source: &Registry, name: &str, version: &str) {
    let work = tempfile::tempdir().expect("a folder to build the gem in");
    std::fs::create_dir_all(work.path().join("lib")).expect("lib");
    std::fs::write(
        work.path().join("lib").join(format!("{name}.rb")),
        format!("module Switchyard; VERSION = \"{version}\"; end\n"),
    )
    .expect("the gem's code");
    let spec = format!(
        "Gem::Specification.new do |s|\n  s.name = \"{name}\"\n  s.version = \"{version}\"\n  \
         s.summary = \"A test gem\"\n  s.authors = [\"Switchyard\"]\n  s.license = \"MIT\"\n  \
         s.files = [\"lib/{name}.rb\"]\nend\n"
    );
    std::fs::write(work.path().join(format!("{name}.gemspec")), spec).expect("the gemspec");
    let mut build = Command::new("gem");
    build
        .current_dir(work.path())
        .args(["build", &format!("{name}.gemspec")])
        .env("HOME", work.path());
    succeed(build, "gem build");
    let gem = format!("{name}-{version}.gem");
    std::fs::copy(
        work.path().join(&gem),
        source.dir.path().join("gems").join(&gem),
    )
    .expect("the gem in the server's folder");
    let mut index = Command::new("gem");
    index
        .args(["generate_index", "--directory"])
        .arg(source.dir.path())
        .env("HOME", work.path());
    succeed(index, "gem generate_index");
}

/// Puts the POM of `group:artifact:version` (a `pom` project of nothing, as a parent is)
/// where `maven_repository` serves it, with its SHA-1, which Maven checks.
pub fn publish_pom(repository: &Registry, group: &str, artifact: &str, version: &str) {
    use sha1::Digest as _;
    let folder = repository
        .dir
        .path()
        .join("maven2")
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version);
    std::fs::create_dir_all(&folder).expect("the artifact's folder");
    let pom = format!(
        "<project><modelVersion>4.0.0</modelVersion><groupId>{group}</groupId>\
         <artifactId>{artifact}</artifactId><version>{version}</version>\
         <packaging>pom</packaging></project>\n"
    );
    let name = format!("{artifact}-{version}.pom");
    let sha1: String = sha1::Sha1::digest(pom.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    std::fs::write(folder.join(&name), &pom).expect("the POM");
    std::fs::write(folder.join(format!("{name}.sha1")), sha1).expect("its SHA-1");
}

/// Puts crate `name` `version` (a library with no dependencies) where `cargo_registry` serves
/// it: its `.crate` (a gzipped tar made by hand, as `cargo package` lays one out) and its
/// index entry, with the checksum Cargo verifies.
pub fn publish_crate(registry: &Registry, name: &str, version: &str) {
    const MAKE: &str = r#"
import hashlib, io, json, os, sys, tarfile
folder, name, version = sys.argv[1:4]
files = {
    "Cargo.toml": f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'.encode(),
    "src/lib.rs": b"pub fn answer() -> u32 { 42 }\n",
}
data = io.BytesIO()
with tarfile.open(fileobj=data, mode="w:gz") as archive:
    for path, content in files.items():
        info = tarfile.TarInfo(f"{name}-{version}/{path}")
        info.size, info.mode = len(content), 0o644
        archive.addfile(info, io.BytesIO(content))
crate = data.getvalue()
target = os.path.join(folder, "crates", name, version)
os.makedirs(target, exist_ok=True)
with open(os.path.join(target, "download"), "wb") as out:
    out.write(crate)
lower = name.lower()
prefix = {1: "1", 2: "2", 3: f"3/{lower[0]}"}.get(len(lower), f"{lower[:2]}/{lower[2:4]}")
entry = os.path.join(folder, "index", prefix, lower)
os.makedirs(os.path.dirname(entry), exist_ok=True)
with open(entry, "a") as out:
    out.write(json.dumps({"name": name, "vers": version, "deps": [], "features": {},
                          "cksum": hashlib.sha256(crate).hexdigest(), "yanked": False}) + "\n")
"#;
    let mut python = Command::new("python3");
    python
        .args(["-c", MAKE])
        .arg(registry.dir.path())
        .args([name, version]);
    succeed(python, "python3 making a crate");
}
