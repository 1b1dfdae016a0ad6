//! Who may use the console. It listens on 127.0.0.1 only, but a page on any web site the user
//! opens can still send requests there, and a name that resolves to 127.0.0.1 (DNS rebinding)
//! makes them look same-origin to the browser. So every request must
//! - name the console itself in `Host` (`127.0.0.1:PORT` or `localhost:PORT`): a rebound name
//!   fails here, the lesson of process-compose's GHSA-5gm3-9crp-6g3v;
//! - carry the per-run token (query `token` or header `X-Agui-Dev-Token`), which only the
//!   terminal that ran `up` and the control socket's owner have seen;
//! - when it changes something (any method but GET and HEAD), come from the console's own
//!   origin: a form another site posts carries its own `Origin`, or none.

/// Why a request was turned away, with the status it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 421 Misdirected Request: the `Host` is not the console.
    Host,
    /// 401: no token, or not this run's.
    Token,
    /// 403: a state change from another origin (or with no `Origin`).
    Origin,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Host => 421,
            Refusal::Token => 401,
            Refusal::Origin => 403,
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            Refusal::Host => "refused: the Host header must be 127.0.0.1 or localhost with the console's port",
            Refusal::Token => {
                "refused: this needs the console's token; open the URL `agui-dev up` printed (or `agui-dev status` shows)"
            }
            Refusal::Origin => "refused: changes are accepted only from the console's own page",
        }
    }
}

/// What the guard looks at in a request.
pub struct Seen<'a> {
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub header_token: Option<&'a str>,
    pub query_token: Option<&'a str>,
}

pub fn check(seen: &Seen<'_>, port: u16, token: &str) -> Result<(), Refusal> {
    let ours = |authority: &str| authority == format!("127.0.0.1:{port}") || authority == format!("localhost:{port}");
    if !seen.host.is_some_and(ours) {
        return Err(Refusal::Host);
    }
    let given = seen.header_token.or(seen.query_token).unwrap_or("");
    if !same_secret(given.as_bytes(), token.as_bytes()) {
        return Err(Refusal::Token);
    }
    let reads_only = matches!(seen.method, "GET" | "HEAD");
    if !reads_only && !seen.origin.and_then(|o| o.strip_prefix("http://")).is_some_and(ours) {
        return Err(Refusal::Origin);
    }
    Ok(())
}

/// Compares in time that does not depend on where the first difference is.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef";

    fn seen<'a>(method: &'a str, host: Option<&'a str>, origin: Option<&'a str>, token: Option<&'a str>) -> Seen<'a> {
        Seen { method, host, origin, header_token: token, query_token: None }
    }

    #[test]
    fn the_console_itself_with_the_token_passes() {
        for host in ["127.0.0.1:4400", "localhost:4400"] {
            assert_eq!(check(&seen("GET", Some(host), None, Some(TOKEN)), 4400, TOKEN), Ok(()));
            let origin = format!("http://{host}");
            assert_eq!(check(&seen("POST", Some(host), Some(&origin), Some(TOKEN)), 4400, TOKEN), Ok(()));
        }
        let by_query = Seen { query_token: Some(TOKEN), ..seen("GET", Some("127.0.0.1:4400"), None, None) };
        assert_eq!(check(&by_query, 4400, TOKEN), Ok(()));
    }

    #[test]
    fn a_foreign_host_is_refused_before_anything_else() {
        for host in [None, Some("evil.example"), Some("evil.example:4400"), Some("127.0.0.1:4401"), Some("127.0.0.1")] {
            assert_eq!(check(&seen("GET", host, None, Some(TOKEN)), 4400, TOKEN), Err(Refusal::Host), "{host:?}");
        }
    }

    #[test]
    fn a_missing_or_wrong_token_is_refused() {
        for token in [None, Some(""), Some("0123456789abcdee"), Some("0123456789abcdef0")] {
            let request = seen("GET", Some("127.0.0.1:4400"), None, token);
            assert_eq!(check(&request, 4400, TOKEN), Err(Refusal::Token), "{token:?}");
        }
    }

    #[test]
    fn a_change_from_another_origin_or_none_is_refused() {
        for origin in [None, Some("null"), Some("http://evil.example"), Some("https://127.0.0.1:4400")] {
            let request = seen("POST", Some("127.0.0.1:4400"), origin, Some(TOKEN));
            assert_eq!(check(&request, 4400, TOKEN), Err(Refusal::Origin), "{origin:?}");
        }
    }
}
