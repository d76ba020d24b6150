//! HTTPS from the web config's `tls_server_config`, with rustls on the
//! ring provider the rest of clawwatch uses. The certificate and key are
//! read again when either file changes, so a renewed certificate needs no
//! restart.

use crate::webconfig::TlsServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Why TLS cannot be set up, naming the key to fix.
#[derive(Debug, thiserror::Error)]
#[error("tls_server_config.{key}: {message}")]
pub struct TlsError {
    key: &'static str,
    message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> TlsError {
    TlsError {
        key,
        message: message.into(),
    }
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn load_key(
    provider: &CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err("cert_file", format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| err("cert_file", format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(err(
            "cert_file",
            format!("{}: no PEM certificate", cert.display()),
        ));
    }
    // The key's bytes are never part of a message.
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|_| err("key_file", format!("{}: no PEM private key", key.display())))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| err("key_file", format!("{}: {e}", key.display())))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match().map_err(|e| {
        err(
            "key_file",
            format!("{} does not match cert_file: {e}", key.display()),
        )
    })?;
    Ok(Arc::new(ck))
}

/// The certificate, re-read at most once a second when a file changed.
#[derive(Debug)]
struct Reloading {
    provider: Arc<CryptoProvider>,
    cert: PathBuf,
    key: PathBuf,
    clock: crate::clock::Clock,
    state: Mutex<(Stamp, Stamp, tokio::time::Instant, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut s = self.state.lock().ok()?;
        // Handshakes are rare next to scrapes' keep-alive requests; a stat
        // of two small files per second at most.
        let now = self.clock.instant();
        if now - s.2 >= Duration::from_secs(1) {
            s.2 = now;
            let (c, k) = (stamp(&self.cert), stamp(&self.key));
            if (c, k) != (s.0, s.1) {
                match load_key(&self.provider, &self.cert, &self.key) {
                    Ok(ck) => {
                        tracing::info!(cert = %self.cert.display(), "Serving the renewed TLS certificate.");
                        *s = (c, k, s.2, ck);
                    }
                    // Half-written renewal: keep the old one, try again.
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot read the changed TLS certificate; serving the previous one.")
                    }
                }
            }
        }
        Some(s.3.clone())
    }
}

/// rustls's name for a Go cipher suite name (they are the IANA names).
fn suite_name(s: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

/// The acceptor for `t` (already validated by [`crate::webconfig`]).
pub fn acceptor(t: &TlsServerConfig) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13 || t.cipher_suites.contains(&suite_name(s))
        });
    }
    if !t.curve_preferences.is_empty() {
        let want: Vec<&str> = t
            .curve_preferences
            .iter()
            .map(|c| match c.as_str() {
                "CurveP256" => "secp256r1",
                "CurveP384" => "secp384r1",
                _ => "X25519",
            })
            .collect();
        provider.kx_groups.retain(|g| {
            want.iter()
                .any(|w| format!("{:?}", g.name()).eq_ignore_ascii_case(w))
        });
    }
    let provider = Arc::new(provider);
    let (cert, key) = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, _) => return Err(err("cert_file", "missing")),
        (_, None) => return Err(err("key_file", "missing")),
    };
    let ck = load_key(&provider, &cert, &key)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        ("TLS12", &rustls::version::TLS12),
        ("TLS13", &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(n, _)| {
        t.min_version.as_deref().is_none_or(|m| *n >= m)
            && t.max_version.as_deref().is_none_or(|m| *n <= m)
    })
    .map(|(_, v)| v)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err("min_version", e.to_string()))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = t
                .client_ca_file
                .as_ref()
                .ok_or_else(|| err("client_ca_file", "missing"))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| err("client_ca_file", format!("{}: {e}", ca.display())))?
            {
                let c = c.map_err(|e| err("client_ca_file", format!("{}: {e}", ca.display())))?;
                roots
                    .add(c)
                    .map_err(|e| err("client_ca_file", format!("{}: {e}", ca.display())))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| err("client_ca_file", e.to_string()))?,
            )
        }
        _ => builder.with_no_client_auth(),
    };
    let clock = crate::clock::Clock::system();
    let mut cfg = builder.with_cert_resolver(Arc::new(Reloading {
        provider,
        state: Mutex::new((stamp(&cert), stamp(&key), clock.instant(), ck)),
        clock,
        cert,
        key,
    }));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
