//! The Prometheus exporter toolkit's web config (`--web.config.file`):
//! TLS, basic auth users with bcrypt hashes, and response headers, in the
//! toolkit's YAML format and with its semantics. This module reads and
//! checks the file and verifies passwords; serving TLS is the server's job.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve HTTPS with this.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP options.
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// `NoClientCert` (default), `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// CA bundle client certificates are verified against.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// `TLS12` or `TLS13` (the toolkit's default minimum is TLS12).
    #[serde(default)]
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Go cipher suite names; only TLS 1.2 suites rustls implements.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Accepted for compatibility; rustls always prefers the server's order.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// Accepted curve names (`CurveP256`, `CurveP384`, `X25519`).
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility (clawwatch serves HTTP/1.1).
    #[serde(default)]
    pub http2: Option<bool>,
    /// Headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Client authentication types of the toolkit.
pub const CLIENT_AUTH_TYPES: [&str; 5] = [
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

/// TLS versions of the toolkit that rustls speaks.
pub const TLS_VERSIONS: [&str; 2] = ["TLS12", "TLS13"];

/// The toolkit's TLS 1.2 cipher suites that rustls implements (TLS 1.3
/// suites are not configurable, as in Go).
pub const CIPHER_SUITES: [&str; 6] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Curves rustls with ring offers.
pub const CURVES: [&str; 3] = ["CurveP256", "CurveP384", "X25519"];

/// Headers the toolkit lets a web config set.
pub const HEADERS: [&str; 6] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
    "Cross-Origin-Resource-Policy",
];

/// A problem with a web config, named by its key path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Problem {
    /// Key path in the file, like `tls_server_config.cert_file`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

impl WebConfig {
    /// Reads and checks `file`; every problem, by key path. The text of a
    /// line is never quoted: it may hold a password hash.
    pub fn load(file: &Path) -> Result<WebConfig, Vec<Problem>> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| vec![problem("", format!("cannot read {}: {e}", file.display()))])?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut cfg = WebConfig::parse(&text)?;
        cfg.resolve(base);
        let problems = cfg.validate();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems)
        }
    }

    /// Parses the YAML text (an empty file is an empty config).
    pub fn parse(text: &str) -> Result<WebConfig, Vec<Problem>> {
        if text.trim().is_empty() {
            return Ok(WebConfig::default());
        }
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            let what = inner.to_string();
            let what = what.split(" at line ").next().unwrap_or(&what);
            let what = what.strip_prefix(&format!("{path}: ")).unwrap_or(what);
            // A type error quotes the value, which may be a hash: name its
            // type only.
            let quoted = regex::Regex::new(r#"(string|char|bytes) (\"(?:[^\"\\]|\\.)*\"|`[^`]*`)"#)
                .expect("a valid pattern");
            let what = quoted
                .replace_all(what, "$1 (value not shown)")
                .into_owned();
            vec![problem(
                if path == "." { "" } else { &path },
                format!("{at}{what}"),
            )]
        })
    }

    /// Paths are relative to the file, as in the toolkit.
    fn resolve(&mut self, base: &Path) {
        if let Some(t) = &mut self.tls_server_config {
            for p in [&mut t.cert_file, &mut t.key_file, &mut t.client_ca_file]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }

    /// Everything wrong with it, by key path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Some(t) = &self.tls_server_config {
            let p = "tls_server_config";
            match (&t.cert_file, &t.key_file) {
                (None, _) => out.push(problem(
                    &format!("{p}.cert_file"),
                    "missing: TLS needs a certificate and its key",
                )),
                (_, None) => out.push(problem(
                    &format!("{p}.key_file"),
                    "missing: TLS needs a certificate and its key",
                )),
                _ => {}
            }
            for (k, f) in [
                ("cert_file", &t.cert_file),
                ("key_file", &t.key_file),
                ("client_ca_file", &t.client_ca_file),
            ] {
                if let Some(f) = f {
                    if !f.is_file() {
                        out.push(problem(
                            &format!("{p}.{k}"),
                            format!("{} is not a readable file", f.display()),
                        ));
                    }
                }
            }
            let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
            if !CLIENT_AUTH_TYPES.contains(&auth) {
                out.push(problem(
                    &format!("{p}.client_auth_type"),
                    format!("{auth:?} is not one of {}", CLIENT_AUTH_TYPES.join(", ")),
                ));
            } else if matches!(auth, "RequestClientCert" | "RequireAnyClientCert") {
                out.push(problem(&format!("{p}.client_auth_type"), format!("{auth} is not supported: rustls verifies every client certificate it accepts; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file")));
            }
            let verifies = matches!(
                auth,
                "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"
            );
            if verifies && t.client_ca_file.is_none() {
                out.push(problem(
                    &format!("{p}.client_ca_file"),
                    format!("missing: client_auth_type {auth} verifies against it"),
                ));
            }
            if !verifies && t.client_ca_file.is_some() {
                out.push(problem(&format!("{p}.client_auth_type"), "client_ca_file is set: use VerifyClientCertIfGiven or RequireAndVerifyClientCert"));
            }
            let version = |k: &str, v: &Option<String>, out: &mut Vec<Problem>| match v.as_deref() {
                Some(x) if !TLS_VERSIONS.contains(&x) => {
                    out.push(problem(
                        &format!("{p}.{k}"),
                        format!("{x:?}: rustls speaks TLS12 and TLS13 only"),
                    ));
                    None
                }
                x => x.map(str::to_owned),
            };
            let min = version("min_version", &t.min_version, &mut out);
            let max = version("max_version", &t.max_version, &mut out);
            if let (Some(a), Some(b)) = (&min, &max) {
                if a > b {
                    out.push(problem(
                        &format!("{p}.min_version"),
                        format!("{a} is above max_version {b}"),
                    ));
                }
            }
            for (i, s) in t.cipher_suites.iter().enumerate() {
                if !CIPHER_SUITES.contains(&s.as_str()) {
                    out.push(problem(
                        &format!("{p}.cipher_suites[{i}]"),
                        format!(
                            "{s:?} is not a TLS 1.2 suite rustls offers ({})",
                            CIPHER_SUITES.join(", ")
                        ),
                    ));
                }
            }
            for (i, c) in t.curve_preferences.iter().enumerate() {
                if !CURVES.contains(&c.as_str()) {
                    out.push(problem(
                        &format!("{p}.curve_preferences[{i}]"),
                        format!("{c:?} is not one of {}", CURVES.join(", ")),
                    ));
                }
            }
        }
        if let Some(h) = &self.http_server_config {
            for (k, v) in &h.headers {
                let p = format!("http_server_config.headers.{k}");
                if !HEADERS.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    out.push(problem(
                        &p,
                        format!("not a header a web config may set ({})", HEADERS.join(", ")),
                    ));
                } else if axum::http::HeaderValue::from_str(v).is_err() {
                    out.push(problem(&p, "not a valid header value"));
                }
            }
        }
        for (user, hash) in &self.basic_auth_users {
            let p = format!("basic_auth_users.{user}");
            if user.is_empty() || user.contains(':') || crate::model::has_control(user) {
                out.push(problem(
                    "basic_auth_users",
                    "a user name is empty or holds ':' or a control character",
                ));
            } else if bcrypt_cost(hash).is_none() {
                // The hash is not shown: it is a secret too.
                out.push(problem(
                    &p,
                    "not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
                ));
            }
        }
        out
    }
}

/// The cost of a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`), if it is one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p))?;
    let (cost, tail) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok()?;
    ((4..=31).contains(&cost) && tail.len() == 53).then_some(cost)
}

/// Checks basic auth credentials against the users' bcrypt hashes. A
/// wrong password and an unknown user cost the same (an unknown user is
/// checked against a hash of the same cost); verified pairs are cached
/// by digest, so a scrape every 15 s does not pay bcrypt each time.
#[derive(Clone)]
pub struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    dummy: Arc<String>,
    ok: Arc<Mutex<HashMap<[u8; 32], bool>>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .finish()
    }
}

/// Verified results kept at most; the cache is cleared when full.
const CACHE: usize = 1024;

impl BasicAuth {
    /// A verifier for `users` (user name to bcrypt hash); `None` when empty.
    pub fn new(users: &BTreeMap<String, String>) -> Option<BasicAuth> {
        if users.is_empty() {
            return None;
        }
        let cost = users
            .values()
            .filter_map(|h| bcrypt_cost(h))
            .max()
            .unwrap_or(10);
        // A fixed salt: the dummy only has to take as long as a real check.
        let dummy = bcrypt::hash_with_salt("clawwatch-no-such-user", cost, [7u8; 16])
            .map(|h| h.format_for_version(bcrypt::Version::TwoB))
            .unwrap_or_default();
        Some(BasicAuth {
            users: Arc::new(users.clone()),
            dummy: Arc::new(dummy),
            ok: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Whether `user`/`password` is right. Blocking (bcrypt): call it off
    /// the async workers.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let key = {
            let mut d = ring::digest::Context::new(&ring::digest::SHA256);
            d.update(&(user.len() as u64).to_le_bytes());
            d.update(user.as_bytes());
            d.update(password.as_bytes());
            let mut k = [0u8; 32];
            k.copy_from_slice(d.finish().as_ref());
            k
        };
        if let Some(v) = self.ok.lock().ok().and_then(|c| c.get(&key).copied()) {
            return v;
        }
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let v = bcrypt::verify(password, hash).unwrap_or(false) && known;
        if let Ok(mut c) = self.ok.lock() {
            if c.len() >= CACHE {
                c.clear();
            }
            c.insert(key, v);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(pw: &str) -> String {
        bcrypt::hash_with_salt(pw, 4, [1u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY)
    }

    #[test]
    fn the_toolkit_format_parses() {
        let h = hash("secret");
        let text = format!(
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: {h}\n"
        );
        let c = WebConfig::parse(&text).unwrap();
        assert_eq!(c.basic_auth_users["prometheus"], h);
        let t = c.tls_server_config.as_ref().unwrap();
        assert_eq!(t.cert_file.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(
            c.http_server_config.unwrap().headers["X-Frame-Options"],
            "deny"
        );
        assert_eq!(WebConfig::parse("").unwrap(), WebConfig::default());
    }

    #[test]
    fn problems_name_the_key_and_never_the_hash() {
        let e = WebConfig::parse("tls_server_config:\n  cert_fil: x\n").unwrap_err();
        assert_eq!(e[0].path, "tls_server_config.cert_fil");
        assert!(
            e[0].message.contains("unknown field `cert_fil`"),
            "{}",
            e[0].message
        );
        let c = WebConfig::parse(
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\n  max_version: TLS12\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\nhttp_server_config:\n  headers:\n    Server: x\nbasic_auth_users:\n  bob: plaintext-password\n",
        )
        .unwrap();
        let got: Vec<String> = c.validate().iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            got,
            [
                "tls_server_config.key_file",
                "tls_server_config.cert_file",
                "tls_server_config.client_ca_file",
                "tls_server_config.min_version",
                "tls_server_config.cipher_suites[0]",
                "http_server_config.headers.Server",
                "basic_auth_users.bob",
            ]
        );
        let all = format!("{:?}", c.validate());
        assert!(!all.contains("plaintext-password"));
        let e = WebConfig::parse("http_server_config:\n  http2: \"$2y$10$secret\"\n").unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].message.as_str()),
            (
                "http_server_config.http2",
                "line 2, column 10: invalid type: string (value not shown), expected a boolean"
            )
        );
    }

    #[test]
    fn basic_auth_checks_and_caches() {
        let users = BTreeMap::from([("prometheus".to_string(), hash("right"))]);
        let a = BasicAuth::new(&users).unwrap();
        assert!(a.verify("prometheus", "right"));
        assert!(a.verify("prometheus", "right"));
        assert!(!a.verify("prometheus", "wrong"));
        assert!(!a.verify("nobody", "right"));
        assert!(!a.verify("", ""));
        assert!(BasicAuth::new(&BTreeMap::new()).is_none());
    }
}
