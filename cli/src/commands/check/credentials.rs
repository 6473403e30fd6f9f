//! Finding 5: likely credentials in any text file: known token formats, and high-entropy values
//! assigned to keys named like secrets. `ENC[...]` values are blanked out before scanning, so
//! SOPS ciphertext and metadata (`enc:`, `mac:`, age recipients) are never flagged. Messages
//! show the rule and at most the well-known prefix of a token, never the value.

use std::sync::LazyLock;

use regex::Regex;
use zeroize::Zeroizing;

use super::finding::Finding;
use super::locate::Pos;

/// A known token format.
struct Pattern {
    rule: &'static str,
    what: &'static str,
    regex: Regex,
    /// How many leading characters of a match are a public prefix that may be shown.
    shown: usize,
    /// Extra check on the match (fewer false positives).
    accept: fn(&str) -> bool,
}

fn any(_: &str) -> bool {
    true
}

/// Legacy Vault service tokens (`s.` + 24 characters) look like many identifiers: require
/// upper and lower case letters and a digit.
fn mixed(s: &str) -> bool {
    let t = &s[2..];
    t.chars().any(|c| c.is_ascii_uppercase())
        && t.chars().any(|c| c.is_ascii_lowercase())
        && t.chars().any(|c| c.is_ascii_digit())
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |rule, what, re: &str, shown, accept| Pattern {
        rule,
        what,
        regex: Regex::new(re).expect("valid pattern"),
        shown,
        accept,
    };
    vec![
        p("aws-access-key-id", "an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 4, any),
        p("github-token", "a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", 4, any),
        p("github-token", "a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}", 11, any),
        p("slack-token", "a Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}", 5, any),
        p(
            "private-key",
            "a private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            0,
            any,
        ),
        p("age-secret-key", "an age identity", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", 16, any),
        p("vault-token", "a Vault token", r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}", 4, any),
        p("vault-token", "a Vault token", r"\bs\.[A-Za-z0-9]{24}\b", 2, mixed),
        p(
            "jwt",
            "a JSON Web Token",
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            3,
            any,
        ),
    ]
});

/// Rule id of the generic finding.
pub const HIGH_ENTROPY: &str = "high-entropy-secret";
/// Shortest value the generic rule looks at.
pub const MIN_SECRET_LEN: usize = 16;
/// Shannon entropy (bits per character) from which a value counts as random.
pub const ENTROPY_THRESHOLD: f64 = 3.5;

/// `password: VALUE`, `"api_key" = "VALUE"`, `TOKEN=VALUE`, … (key, then value).
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)([a-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)[a-z0-9_.-]*)["']?\s*[:=]\s*["']?([A-Za-z0-9+/=_.~-]+)"#,
    )
    .expect("valid pattern")
});

static ENC_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ENC\[[^\]]*\]").expect("valid pattern"));

/// The findings in `text` (the file shown as `path`). Lines holding `sealgate:allow` are
/// skipped by the caller's allow-list, not here.
pub fn check(path: &str, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = blank_ciphertext(raw);
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for pat in PATTERNS.iter() {
            for m in pat.regex.find_iter(&line) {
                if !(pat.accept)(m.as_str()) {
                    continue;
                }
                taken.push((m.start(), m.end()));
                let shown = redacted(m.as_str(), pat.shown);
                out.push(finding(
                    path,
                    raw,
                    i,
                    m.start(),
                    pat.rule,
                    format!("{} ({shown}) in clear text", pat.what),
                    m.as_str(),
                ));
            }
        }
        for c in ASSIGNMENT.captures_iter(&line) {
            let (key, value) = (&c[1], c.get(2).expect("group 2"));
            if taken.iter().any(|&(s, e)| value.start() < e && s < value.end())
                || !looks_random(value.as_str())
            {
                continue;
            }
            out.push(finding(
                path,
                raw,
                i,
                value.start(),
                HIGH_ENTROPY,
                format!(
                    "a random-looking value ({} characters) assigned to `{key}` in clear text",
                    value.as_str().chars().count()
                ),
                value.as_str(),
            ));
        }
    }
    out
}

fn finding(
    path: &str,
    raw: &str,
    line: usize,
    byte: usize,
    rule: &'static str,
    what: String,
    matched: &str,
) -> Finding {
    let pos = Pos { line: line + 1, column: raw[..byte].chars().count() + 1 };
    let mut f = Finding::new(
        path,
        pos,
        rule,
        format!(
            "{what}: likely a credential; encrypt it (`sealgate encrypt`, `sealgate seal`) or \
             remove it, or allow it with a `sealgate:allow` comment on the line or an entry in \
             .sealgate-allow"
        ),
    );
    f.matched = Some(Zeroizing::new(matched.to_owned()));
    f
}

/// The line with every `ENC[...]` value replaced by spaces (byte offsets are kept).
fn blank_ciphertext(line: &str) -> Zeroizing<String> {
    Zeroizing::new(
        ENC_VALUE.replace_all(line, |c: &regex::Captures| " ".repeat(c[0].len())).into_owned(),
    )
}

/// `AKIA****`: the public prefix, then stars.
pub fn redacted(s: &str, shown: usize) -> String {
    let prefix: String = s.chars().take(shown).collect();
    format!("{prefix}****")
}

/// Words that mark a value as a made-up placeholder.
const PLACEHOLDERS: [&str; 8] =
    ["example", "not-a-real", "dummy", "fake", "placeholder", "changeme", "redacted", "xxxx"];

/// Long enough, letters and digits mixed, and high Shannon entropy; not a placeholder.
fn looks_random(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    !PLACEHOLDERS.iter().any(|p| lower.contains(p))
        && v.chars().count() >= MIN_SECRET_LEN
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_alphabetic())
        && shannon_entropy(v) >= ENTROPY_THRESHOLD
}

/// Bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(text: &str) -> Vec<&'static str> {
        check("f", text).iter().map(|f| f.rule).collect()
    }

    // Assembled at run time so that this source file holds no literal token.
    fn token(prefix: &str, body: &str) -> String {
        format!("{prefix}{body}")
    }

    #[test]
    fn known_formats_are_flagged_with_a_redacted_prefix_only() {
        let aws = token("AKIA", "Q3EGRTUXWZ5ABCD7");
        let f = check("f", &format!("key = {aws}\n"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "aws-access-key-id");
        assert_eq!((f[0].line, f[0].column), (1, 7));
        assert!(f[0].message.contains("AKIA****"), "{}", f[0].message);
        assert!(!f[0].message.contains(&aws));
        let cases = [
            (token("ghp_", &"aB3".repeat(12)), "github-token"),
            (token("github_pat_", &"11AB22cd_".repeat(4)), "github-token"),
            (token("xoxb-", "123456789012-abcdefABCDEF"), "slack-token"),
            (token("-----BEGIN OPENSSH ", "PRIVATE KEY-----"), "private-key"),
            (token("-----BEGIN ", "PRIVATE KEY-----"), "private-key"),
            (token("AGE-SECRET-KEY-1", &"QZ7".repeat(20)[..58]), "age-secret-key"),
            (token("hvs.", "CAESIJ0aBcDeFgHiJkLmNoPqRsT"), "vault-token"),
            (token("s.", "Ab3De6Gh9Jk2Mn5Pq8St1Vw4"), "vault-token"),
            (token("eyJhbGciOiJIUzI1NiJ9.", "eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU"), "jwt"),
        ];
        for (text, rule) in cases {
            assert_eq!(rules_of(&text), vec![rule], "{text}");
            assert!(!check("f", &text)[0].message.contains(&text));
        }
    }

    #[test]
    fn high_entropy_values_under_secret_keys_are_flagged() {
        let v = token("q8Zr2", "Lw7NfX4pK1vT9sYb");
        let f = check("f", &format!("db_password: \"{v}\"\n"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, HIGH_ENTROPY);
        assert_eq!(f[0].column, 15);
        assert!(f[0].message.contains("db_password") && !f[0].message.contains(&v));
        assert_eq!(rules_of(&format!("API_KEY={v}")), vec![HIGH_ENTROPY]);
        assert_eq!(rules_of(&format!("name: {v}")), Vec::<&str>::new());
    }

    #[test]
    fn low_entropy_short_and_wordy_values_are_not_flagged() {
        assert!(check("f", "password: not-a-real-password\n").is_empty());
        assert!(check("f", "password: aaaaaaaaaaaaaaaaaaaaaa1\n").is_empty());
        assert!(check("f", "token = \"s.not-a-real-token-0123456789\"\n").is_empty());
        assert!(check("f", "api_key: q8Zr2Lw7NfX4pK1vT9-example\n").is_empty());
        assert!(check("f", "token: Ab3De6\n").is_empty());
        assert!(check("f", "let token = keysel::unwrap(&keyring);\n").is_empty());
    }

    #[test]
    fn sops_ciphertext_and_metadata_are_never_flagged() {
        let text = "password: ENC[AES256_GCM,data:q8Zr2Lw7NfX4pK1vT9sYbAKIAQ3EGRTUXWZ5ABCD7,iv:x,tag:y,type:str]\n\
                    sops:\n    age:\n        - recipient: age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0\n\
                    \x20         enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n\
                    \x20   mac: ENC[AES256_GCM,data:Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5,iv:x,tag:y,type:str]\n";
        assert!(check("f", text).is_empty(), "{:?}", check("f", text));
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }
}
