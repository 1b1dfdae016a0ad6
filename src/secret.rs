//! Leaf: what must never be printed. The `Secret` values of a run, how they are found
//! (`is_secret_name`, `collect`), masked for people (`mask`) and replaced in any text on its way out
//! (`redact`), plus `strip_ansi` for text headed to plain files. Depends on nothing of ours.

use std::borrow::Cow;

/// A value that must never be printed, with the name shown in its place.
#[derive(Clone, Debug)]
pub struct Secret {
    pub name: String,
    pub value: String,
}

/// Names whose values are treated as secrets: masked in `check`, redacted from all output.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // `_KEY` covers `*_API_KEY` and `LITELLM_MASTER_KEY`.
    upper.ends_with("_KEY") || upper.ends_with("_TOKEN") || upper.contains("SECRET") || upper.contains("PASSWORD")
}

/// Variables holding `name=value,…` header lists for an OTLP endpoint: each value is a credential
/// (`Authorization=Basic …`, `x-api-key=…`), though the variable's name says nothing of it.
pub const HEADER_LISTS: [&str; 2] = ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"];

/// Adds the secret-named values of `env` to `secrets`, and each value of an OTLP header list, as
/// written and percent-decoded (once per value; values shorter than 6 characters are not worth
/// hiding and would replace common words). Call `sort` when done.
pub fn collect<'a>(secrets: &mut Vec<Secret>, env: impl IntoIterator<Item = (&'a String, &'a String)>) {
    let mut add = |name: &String, value: &str| {
        if value.len() >= 6 && !secrets.iter().any(|s| s.value == value) {
            secrets.push(Secret { name: name.clone(), value: value.to_owned() });
        }
    };
    for (key, value) in env {
        if is_secret_name(key) {
            add(key, value);
        } else if HEADER_LISTS.contains(&key.as_str()) {
            for (_, header) in value.split(',').filter_map(|pair| pair.split_once('=')) {
                add(key, header.trim());
                add(key, &percent_decode(header.trim()));
            }
        }
    }
}

/// `%XX` decoded, as the OpenTelemetry spec writes header values; a malformed escape stays as
/// written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lower-case hex, two digits a byte (ids, keys).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Longest first, so a secret that contains another is replaced whole.
pub fn sort(secrets: &mut [Secret]) {
    secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
}

/// A masked form that shows only enough to tell two keys apart: `sk-…9f2c`.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return "…".to_owned();
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Replaces every secret value in `text` by `[redacted:NAME]` (borrowed when there is none).
pub fn redact<'a>(text: &'a str, secrets: &[Secret]) -> Cow<'a, str> {
    let mut text = Cow::Borrowed(text);
    for secret in secrets {
        if text.contains(&secret.value) {
            text = Cow::Owned(text.replace(&secret.value, &format!("[redacted:{}]", secret.name)));
        }
    }
    text
}

/// `text` without terminal escape sequences (colours, cursor moves); borrowed when it has none.
pub fn strip_ansi(text: &str) -> Cow<'_, str> {
    if text.contains('\x1b') {
        Cow::Owned(String::from_utf8_lossy(&strip_ansi_escapes::strip(text)).into_owned())
    } else {
        Cow::Borrowed(text)
    }
}

/// `bytes` random bytes from the kernel, in hex (run ids, generated master keys).
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut raw = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .expect("the kernel's random source is readable");
    hex(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_of_an_otlp_header_list_are_secrets_as_written_and_decoded() {
        let env = [("OTEL_EXPORTER_OTLP_HEADERS".to_owned(), "Authorization=Basic%20dXNlcjpwYXNz, x-n=ab".to_owned())];
        let mut secrets = Vec::new();
        collect(&mut secrets, env.iter().map(|(k, v)| (k, v)));
        let values: Vec<&str> = secrets.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values, ["Basic%20dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"]);
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn secret_names_and_masks() {
        for name in ["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "CLIENT_SECRET"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PORT", "PATH", "LITELLM_MODEL", "KEYBOARD"] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert_eq!(mask("sk-0123456789abcdef9f2c"), "sk-…9f2c");
        assert_eq!(mask("short"), "…");
    }

    #[test]
    fn redaction_replaces_the_longest_secret_whole() {
        let env = [("A_KEY".to_owned(), "abcdef".to_owned()), ("B_KEY".to_owned(), "abcdefgh".to_owned())];
        let mut secrets = Vec::new();
        collect(&mut secrets, env.iter().map(|(k, v)| (k, v)));
        sort(&mut secrets);
        assert_eq!(redact("x abcdefgh y abcdef", &secrets), "x [redacted:B_KEY] y [redacted:A_KEY]");
        assert!(matches!(redact("nothing here", &secrets), Cow::Borrowed(_)));
    }
}
