//! clawwatch's own log lines: every control character a value carries
//! (a newline in an environment value, a CR in an account id, a terminal
//! escape in a gateway error) is written escaped, so that no input can
//! forge a log line or drive the operator's terminal.

use std::io::{self, Write};

/// Escapes `line` (one formatted event): control characters become `\n`,
/// `\r`, `\t` or `\u{XX}`; the final newline stays. With `keep_esc`, ESC
/// is kept for the colours the formatter itself writes at a terminal (the
/// formatter escapes ESC inside values).
pub fn escape(line: &[u8], keep_esc: bool) -> std::borrow::Cow<'_, [u8]> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let bad = |b: u8| (b < 0x20 && !(keep_esc && b == 0x1b)) || b == 0x7f;
    let c1 = |w: &[u8]| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]);
    if !body.iter().any(|b| bad(*b)) && !body.windows(2).any(c1) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if bad(b) {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(format!("\\u{{{b:02x}}}").as_bytes()),
            }
        } else if i + 1 < body.len() && c1(&body[i..i + 2]) {
            out.extend_from_slice(format!("\\u{{{:02x}}}", body[i + 1]).as_bytes());
            i += 1;
        } else {
            out.push(b);
        }
        i += 1;
    }
    if body.len() < line.len() {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

/// A writer that escapes each event it is handed (see [`escape`]).
#[derive(Debug)]
pub struct Escaping<W> {
    inner: W,
    keep_esc: bool,
}

impl<W> Escaping<W> {
    /// Wraps `inner`; `ansi`: the formatter writes colours.
    pub fn new(inner: W, ansi: bool) -> Self {
        Escaping {
            inner,
            keep_esc: ansi,
        }
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&escape(buf, self.keep_esc))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_forge_a_line_or_reach_the_terminal() {
        let got = escape(
            b"level=INFO msg=x id=\"a\nlevel=ERROR forged\r\x1b[2J\x07\xc2\x9b\"\n",
            false,
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            "level=INFO msg=x id=\"a\\nlevel=ERROR forged\\r\\u{1b}[2J\\u{07}\\u{9b}\"\n"
        );
        assert_eq!(
            &*escape(b"plain \xc3\xa9 line\n", false),
            b"plain \xc3\xa9 line\n"
        );
        assert_eq!(
            &*escape(b"\x1b[32mINFO\x1b[0m\n", true),
            b"\x1b[32mINFO\x1b[0m\n"
        );
    }

    #[test]
    fn through_tracing() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let b2 = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || Escaping::new(b2.clone(), false))
            .finish();
        tracing::subscriber::with_default(sub, || {
            let env = "value\nERROR clawwatch: forged";
            tracing::info!(path = %env, "Read a value.");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("value\\nERROR clawwatch: forged"), "{out}");
    }
}
