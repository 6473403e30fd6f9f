//! age key source: recipients (X25519, ssh-ed25519, ssh-rsa), identities in age-keygen's file
//! format and SSH private keys, and the armored age file sops keeps in a stanza's `enc`.
//!
//! The `enc` payload is the raw 32-byte data key (or 33-byte Shamir share), armored with
//! 64-column lines and a final newline, as sops's `age/keysource.go` writes it.

use std::fmt;
use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::KeyError;
use crate::format::timestamp::Timestamp;

/// An `enc` larger than this is not something sops wrote; refuse it before parsing.
const MAX_ENC_LEN: usize = 1 << 20;
/// The payload is a data key or a share; anything longer is read only this far.
const MAX_PAYLOAD_LEN: u64 = 1024;

/// A parsed age recipient, kept with the exact text sops stores in `recipient`.
#[derive(Clone)]
pub struct AgeRecipient {
    text: String,
    kind: RecipientKind,
}

#[derive(Clone)]
enum RecipientKind {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl AgeRecipient {
    /// Parses one recipient as sops does (surrounding whitespace trimmed): `age1…` X25519,
    /// `ssh-ed25519 …` or `ssh-rsa …` (a trailing comment is allowed and kept).
    pub fn parse(input: &str) -> Result<AgeRecipient, KeyError> {
        let text = input.trim();
        let invalid = |reason: String| KeyError::MalformedRecipient {
            recipient: display_recipient(text),
            reason,
        };
        if looks_secret(text) {
            return Err(KeyError::MalformedRecipient {
                recipient: "[REDACTED]".into(),
                reason: "this is a secret key (an identity), not a recipient: use its public key \
                         (`age-keygen -y`), and treat the secret key as compromised if it was \
                         committed"
                    .into(),
            });
        }
        let kind = if text.starts_with("age1") && text.matches('1').count() > 1 {
            return Err(invalid(
                "age plugin recipients (age1<plugin>1…) are not supported by sealgate".into(),
            ));
        } else if text.starts_with("age1") {
            RecipientKind::X25519(text.parse().map_err(|e: &str| invalid(e.to_owned()))?)
        } else if text.starts_with("ssh-") {
            RecipientKind::Ssh(text.parse().map_err(|e| {
                invalid(match e {
                    age::ssh::ParseRecipientKeyError::Unsupported(t) => {
                        format!("SSH key type {t} is not supported")
                    }
                    age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                        "the RSA key is shorter than 2048 bits".into()
                    }
                    age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                        "the RSA key is too large".into()
                    }
                    _ => "not a valid SSH public key".into(),
                })
            })?)
        } else {
            return Err(invalid("unknown recipient type".into()));
        };
        Ok(AgeRecipient { text: text.to_owned(), kind })
    }

    /// A comma-separated list as `--age` takes it (sops `MasterKeysFromRecipients`): an empty
    /// string is no recipients; an empty piece (`a,,b`) is an error.
    pub fn parse_list(input: &str) -> Result<Vec<AgeRecipient>, KeyError> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        input.split(',').map(AgeRecipient::parse).collect()
    }

    /// The recipient as written into the metadata.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `X25519`, `ssh-ed25519` or `ssh-rsa`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            RecipientKind::X25519(_) => "X25519",
            RecipientKind::Ssh(age::ssh::Recipient::SshEd25519(..)) => "ssh-ed25519",
            RecipientKind::Ssh(age::ssh::Recipient::SshRsa(..)) => "ssh-rsa",
        }
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match &self.kind {
            RecipientKind::X25519(r) => r,
            RecipientKind::Ssh(r) => r,
        }
    }
}

impl PartialEq for AgeRecipient {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for AgeRecipient {}

impl fmt::Debug for AgeRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgeRecipient({:?})", self.text)
    }
}

impl fmt::Display for AgeRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for AgeRecipient {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgeRecipient::parse(s)
    }
}

/// True for text that is a private key rather than a public one: never echo it.
fn looks_secret(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper.starts_with("AGE-SECRET-KEY-")
        || upper.starts_with("AGE-PLUGIN-")
        || upper.contains("PRIVATE KEY")
}

/// A recipient shortened for messages (RSA keys are hundreds of characters).
fn display_recipient(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// age's messages wrap names in Unicode isolates (U+2068/U+2069); keep ours plain.
fn strip_isolates(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '\u{2068}' | '\u{2069}')).collect()
}

/// Wraps `payload` for one recipient: an armored age file, as sops stores it in `enc`.
pub(crate) fn wrap(recipient: &AgeRecipient, payload: &[u8]) -> Result<String, KeyError> {
    let failed = |what: &str| KeyError::AgeEncrypt {
        recipient: display_recipient(&recipient.text),
        reason: what.to_owned(),
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient.as_age()))
        .map_err(|e| failed(&strip_isolates(&e.to_string())))?;
    let mut out = Vec::with_capacity(512);
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
        .map_err(|_| failed("armor setup failed"))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|_| failed("stream setup failed"))?;
    writer.write_all(payload).map_err(|_| failed("write failed"))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|_| failed("finishing the armor failed"))?;
    let text = String::from_utf8(out).map_err(|_| failed("armor is not text"))?;
    // Go's armor writes LF line endings on every platform.
    Ok(text.replace("\r\n", "\n"))
}

/// Why one age stanza did not give up its payload. Deliberately coarse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgeFailure {
    /// No identity in the keyring matches any recipient stanza of the file.
    NoMatchingIdentity,
    /// `enc` is not an armored age file.
    Malformed,
    /// An identity matched, but the file did not decrypt (tampered or corrupt).
    DecryptFailed,
}

/// One identity and where it came from (a file path or variable name; never its content).
pub(crate) struct LoadedIdentity {
    pub(crate) key: IdentityKey,
    pub(crate) origin: String,
}

pub(crate) enum IdentityKey {
    X25519(age::x25519::Identity),
    Ssh(age::ssh::Identity),
}

impl LoadedIdentity {
    fn as_age(&self) -> &dyn age::Identity {
        match &self.key {
            IdentityKey::X25519(i) => i,
            IdentityKey::Ssh(i) => i,
        }
    }
}

/// Decrypts an `enc` with the first identity that matches; returns the payload and the index
/// of that identity.
pub(crate) fn unwrap(
    enc: &str,
    identities: &[LoadedIdentity],
) -> Result<(Zeroizing<Vec<u8>>, usize), AgeFailure> {
    if enc.len() > MAX_ENC_LEN {
        return Err(AgeFailure::Malformed);
    }
    let mut result = Err(AgeFailure::NoMatchingIdentity);
    for (index, identity) in identities.iter().enumerate() {
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes()))
            .map_err(|_| AgeFailure::Malformed)?;
        match decryptor.decrypt(std::iter::once(identity.as_age())) {
            Ok(reader) => {
                let mut payload = Zeroizing::new(Vec::with_capacity(64));
                match reader.take(MAX_PAYLOAD_LEN).read_to_end(&mut payload) {
                    Ok(_) => return Ok((payload, index)),
                    Err(_) => result = Err(AgeFailure::DecryptFailed),
                }
            }
            Err(age::DecryptError::NoMatchingKeys) => {}
            Err(_) => result = Err(AgeFailure::DecryptFailed),
        }
    }
    result
}

/// Parses an identity file in age-keygen's format, as sops reads `SOPS_AGE_KEY`,
/// `SOPS_AGE_KEY_FILE` and `keys.txt`: blank lines and lines starting with `#` are skipped,
/// every other line must be an `AGE-SECRET-KEY-1…` identity, and at least one must be present.
/// Errors name `origin` and the line number, never the line.
pub(crate) fn parse_identity_file(
    text: &str,
    origin: &str,
) -> Result<Vec<LoadedIdentity>, KeyError> {
    if text.starts_with("age-encryption.org/") || text.starts_with("-----BEGIN AGE ENCRYPTED FILE")
    {
        return Err(KeyError::EncryptedIdentityFile { origin: origin.to_owned() });
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &'static str| KeyError::InvalidIdentity {
            origin: origin.to_owned(),
            line: line_no,
            reason,
        };
        if line.starts_with("AGE-PLUGIN-") {
            return Err(bad("age plugin identities (AGE-PLUGIN-…) are not supported by sealgate"));
        }
        if line.starts_with("AGE-SECRET-KEY-PQ-") {
            return Err(bad("post-quantum hybrid age identities are not supported yet"));
        }
        let identity: age::x25519::Identity =
            line.parse().map_err(|_| bad("not an age identity (AGE-SECRET-KEY-1…)"))?;
        out.push(LoadedIdentity {
            key: IdentityKey::X25519(identity),
            origin: format!("{origin}, line {line_no}"),
        });
    }
    if out.is_empty() {
        return Err(KeyError::NoIdentitiesIn { origin: origin.to_owned() });
    }
    Ok(out)
}

/// Parses an OpenSSH private key (ssh-ed25519 or ssh-rsa) as an age identity.
pub(crate) fn parse_ssh_identity(bytes: &[u8], origin: &str) -> Result<LoadedIdentity, KeyError> {
    let bad = |reason: String| KeyError::SshIdentity { origin: origin.to_owned(), reason };
    let identity = age::ssh::Identity::from_buffer(bytes, Some(origin.to_owned()))
        .map_err(|_| bad("not an OpenSSH private key that age can read".into()))?;
    match &identity {
        age::ssh::Identity::Unencrypted(_) => {}
        age::ssh::Identity::Encrypted(_) => {
            return Err(bad(
                "the key is passphrase-protected, which sealgate does not support yet; use an \
                 age identity file instead"
                    .into(),
            ));
        }
        age::ssh::Identity::Unsupported(kind) => {
            let what = match kind {
                age::ssh::UnsupportedKey::Type(t) => format!("SSH key type {t} is not supported"),
                age::ssh::UnsupportedKey::Hardware(t) => {
                    format!("hardware-backed SSH key type {t} is not supported")
                }
                _ => "this SSH key format is not supported".to_owned(),
            };
            return Err(bad(what));
        }
    }
    Ok(LoadedIdentity { key: IdentityKey::Ssh(identity), origin: origin.to_owned() })
}

/// A new X25519 identity in age-keygen's file format, and its recipient. The text is secret:
/// write it with mode 0600.
pub fn generate_identity_file(now: Timestamp) -> (Zeroizing<String>, String) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret = identity.to_string();
    let mut text = Zeroizing::new(String::with_capacity(200));
    text.push_str("# created: ");
    text.push_str(&now.to_rfc3339_secs());
    text.push_str("\n# public key: ");
    text.push_str(&recipient);
    text.push('\n');
    text.push_str(secret.expose_secret());
    text.push('\n');
    (text, recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC_TEST_RECIPIENT: &str =
        "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";

    /// The identity of `PUBLIC_TEST_RECIPIENT`: the published test key of the fixtures
    /// (tests/fixtures/sops/keys.txt), which protects nothing.
    fn fixture_identity() -> &'static str {
        include_str!("../../tests/fixtures/sops/keys.txt")
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .expect("keys.txt holds an identity")
    }

    #[test]
    fn parses_recipients_like_sops() {
        let r = AgeRecipient::parse(&format!("  {PUBLIC_TEST_RECIPIENT}\n")).unwrap();
        assert_eq!(r.as_str(), PUBLIC_TEST_RECIPIENT);
        assert_eq!(r.kind_name(), "X25519");
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        let r = AgeRecipient::parse(ed).unwrap();
        assert_eq!(r.as_str(), ed, "the comment is kept, as sops keeps it");
        assert_eq!(r.kind_name(), "ssh-ed25519");
    }

    #[test]
    fn recipient_lists_split_on_commas_as_the_age_flag_does() {
        assert!(AgeRecipient::parse_list("").unwrap().is_empty());
        let two =
            AgeRecipient::parse_list(&format!("{PUBLIC_TEST_RECIPIENT}, {PUBLIC_TEST_RECIPIENT}"));
        assert_eq!(two.unwrap().len(), 2);
        assert!(AgeRecipient::parse_list(&format!("{PUBLIC_TEST_RECIPIENT},,")).is_err());
    }

    #[test]
    fn malformed_recipient_says_which_and_what_is_valid() {
        let e = AgeRecipient::parse("notakey").unwrap_err().to_string();
        assert!(
            e.contains("\"notakey\"") && e.contains("age1") && e.contains("ssh-ed25519"),
            "{e}"
        );
        let e = AgeRecipient::parse("age1qqqq").unwrap_err().to_string();
        assert!(e.contains("age1qqqq"), "{e}");
        let e = AgeRecipient::parse("age1yubikey1qqqqqq").unwrap_err().to_string();
        assert!(e.contains("plugin"), "{e}");
        let e = AgeRecipient::parse("ecdsa-sha2-nistp256 AAAA").unwrap_err().to_string();
        assert!(e.contains("unknown recipient type"), "{e}");
    }

    #[test]
    fn a_secret_key_given_as_recipient_is_never_echoed() {
        let secret = fixture_identity();
        let e = AgeRecipient::parse(secret).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("16FX203"), "{text}");
        assert!(text.contains("secret key"), "{text}");
    }

    #[test]
    fn wrapped_enc_is_armored_with_64_columns_and_a_final_newline() {
        let r = AgeRecipient::parse(PUBLIC_TEST_RECIPIENT).unwrap();
        let enc = wrap(&r, &[7u8; 32]).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"), "{enc}");
        assert!(enc.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"), "{enc}");
        let body: Vec<&str> = enc.lines().skip(1).take_while(|l| !l.starts_with("-----")).collect();
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64), "{enc}");
        assert!(body[body.len() - 1].len() <= 64);
    }

    #[test]
    fn identity_file_errors_name_origin_and_line_but_not_content() {
        let text = format!("# comment\n\n{}\nsecret garbage\n", fixture_identity());
        let e = parse_identity_file(&text, "/tmp/keys.txt").err().unwrap();
        let msg = format!("{e} {e:?}");
        assert!(msg.contains("/tmp/keys.txt") && msg.contains("line 4"), "{msg}");
        assert!(!msg.contains("garbage") && !msg.contains("16FX203"), "{msg}");
    }

    #[test]
    fn identity_file_rules_follow_go_age() {
        let key = fixture_identity();
        // CRLF is fine (Go's scanner drops the \r); a leading or trailing space is not.
        assert_eq!(parse_identity_file(&format!("# c\r\n{key}\r\n"), "x").unwrap().len(), 1);
        assert!(parse_identity_file(&format!("  {key}\n"), "x").is_err());
        assert!(parse_identity_file(&format!("{key} \n"), "x").is_err());
        assert!(matches!(
            parse_identity_file("# nothing\n\n", "x"),
            Err(KeyError::NoIdentitiesIn { .. })
        ));
        let e =
            parse_identity_file(&format!("{key}\nAGE-PLUGIN-YUBIKEY-1QQQQ\n"), "x").err().unwrap();
        assert!(e.to_string().contains("plugin") && e.to_string().contains("line 2"), "{e}");
        assert!(matches!(
            parse_identity_file("age-encryption.org/v1\n-> scrypt x 18\n", "x"),
            Err(KeyError::EncryptedIdentityFile { .. })
        ));
    }

    #[test]
    fn generated_identity_file_has_age_keygen_layout_and_round_trips() {
        let now = Timestamp::parse_rfc3339("2026-11-22T01:49:10Z").unwrap();
        let (text, recipient) = generate_identity_file(now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# created: 2026-11-22T01:49:10Z");
        assert_eq!(lines[1], format!("# public key: {recipient}"));
        assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
        assert_eq!(lines.len(), 3);
        let ids = parse_identity_file(&text, "generated").unwrap();
        let r = AgeRecipient::parse(&recipient).unwrap();
        let enc = wrap(&r, b"payload").unwrap();
        let (payload, index) = unwrap(&enc, &ids).unwrap();
        assert_eq!((&payload[..], index), (&b"payload"[..], 0));
    }

    #[test]
    fn unwrap_distinguishes_no_match_from_malformed_and_tampered() {
        let (text, recipient) = generate_identity_file(Timestamp::now_utc());
        let (other, _) = generate_identity_file(Timestamp::now_utc());
        let ids = parse_identity_file(&text, "a").unwrap();
        let others = parse_identity_file(&other, "b").unwrap();
        let enc = wrap(&AgeRecipient::parse(&recipient).unwrap(), &[1u8; 32]).unwrap();
        assert_eq!(unwrap(&enc, &others).err(), Some(AgeFailure::NoMatchingIdentity));
        assert_eq!(unwrap("not armor", &ids).err(), Some(AgeFailure::Malformed));
        // Flip one payload character near the end of the armor body.
        let mut lines: Vec<String> = enc.lines().map(str::to_owned).collect();
        let last_body = lines.len() - 2;
        let line = &mut lines[last_body];
        let c = if line.starts_with('A') { "B" } else { "A" };
        line.replace_range(0..1, c);
        let tampered = lines.join("\n") + "\n";
        assert!(matches!(
            unwrap(&tampered, &ids).err(),
            Some(AgeFailure::DecryptFailed | AgeFailure::Malformed)
        ));
    }
}
