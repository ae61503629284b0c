//! The credentials a URL can carry (`https://user:password@host/…`), as text: hiding them in
//! messages ([`redact`]), leaving them out of anything recorded ([`without_credentials`]),
//! taking them out to hand on ([`url_account`]), and refusing URLs that could smuggle a line
//! into git's credential protocol ([`has_control_characters`]).

/// The parts of a `scheme://userinfo@host/path` URL: (scheme, user info, rest after the `@`).
fn userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    // Where curl and gix end the authority (a `\` too, as browsers do): `https://evil?@good/r`
    // reaches `evil`, and must be named so.
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (userinfo, _) = rest[..authority_end].rsplit_once('@')?;
    Some((scheme, userinfo, &rest[userinfo.len() + 1..]))
}

/// Whether the scheme's user info is a secret: over HTTP(S) a token is often written as the
/// user (`https://TOKEN@host/…`); over ssh the user (`git@`) only says whom to log in as.
fn secret_user(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// `url` with its credentials hidden, for messages: the HTTP(S) user info becomes `***`
/// (`https://***@host/r`), and elsewhere a password does (`ssh://git:***@host/r`).
pub fn redact(url: &str) -> String {
    match userinfo(url) {
        Some((scheme, _, rest)) if secret_user(scheme) => format!("{scheme}://***@{rest}"),
        Some((scheme, info, rest)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{rest}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// `url` without the credentials it carries, for recording it (manifests, locks, the store's
/// records and reflogs, JSON output, a child process's command line): over HTTP(S) the whole
/// user info goes, elsewhere only a password.
pub fn without_credentials(url: &str) -> String {
    match userinfo(url) {
        Some((scheme, _, rest)) if secret_user(scheme) => format!("{scheme}://{rest}"),
        Some((scheme, info, rest)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}@{rest}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The user and password written in an HTTP(S) `url`, percent-decoded, when it has both: what
/// [`without_credentials`] leaves out, to be handed on through the environment or a helper,
/// never on a command line.
pub fn url_account(url: &str) -> Option<(String, String)> {
    let (scheme, info, _) = userinfo(url)?;
    if !secret_user(scheme) {
        return None;
    }
    let (user, password) = info.split_once(':')?;
    Some((percent_decode(user)?, percent_decode(password)?))
}

/// `%XX` escapes decoded; `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    String::from_utf8(decode_bytes(text)).ok()
}

fn decode_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The character of `url` that no network URL of a git server needs and that parsers disagree
/// on (`?`, `#`, `\\`): with one of them in the authority, `https://evil?@good/r` reaches one host
/// while a reader that ends the authority elsewhere names another.
pub fn ambiguous_character(url: &str) -> Option<char> {
    url.chars().find(|c| matches!(c, '?' | '#' | '\\'))
}

/// Whether `url`, as written or with its `%XX` escapes decoded (in any part: user, password,
/// host, path), holds a control character (`\r`, `\n`, NUL, escape, …). Such a URL is refused
/// before anything talks to git or a credential helper: git's credential protocol is line-based,
/// so a decoded line break would let the URL's author ask for another host's credentials.
pub fn has_control_characters(url: &str) -> bool {
    let decoded = decode_bytes(url);
    url.chars().any(char::is_control)
        || decoded.iter().any(|b| *b < 0x20 || *b == 0x7f)
        || String::from_utf8_lossy(&decoded)
            .chars()
            .any(char::is_control)
}
