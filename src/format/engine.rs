//! Encrypting and decrypting a whole tree: the walk that gives each leaf its AAD, decides it by
//! the encryption rule, feeds the MAC in order, and reuses the IVs of unchanged values.
//!
//! The walk is sops's `walkBranch`/`walkSlice`: map keys form the path (list indices do not),
//! comments are collected per level for the comment rules, nulls are skipped, and comments
//! never enter the MAC.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipher::{self, CipherError, DataKey, EncValue, IV_LEN, Sealed, ValueCipher};
use super::mac::MacHasher;
use super::parallel::{self, AadArena};
use super::rules::EncryptionRule;
use super::scalar::{Scalar, ScalarError, ValueType};
use super::tree::{Comment, Document, Item, Map, Node};

/// Values at least this large are hashed for the MAC on a second thread while they are
/// encrypted.
const PARALLEL_MAC_BYTES: usize = 1 << 20;

/// IVs of values seen while decrypting, so that re-encrypting an unchanged value at the same
/// path gives the same IV (sops-format.md §2.5). Keyed by a digest of path, type and plaintext.
#[derive(Default)]
pub struct IvStash {
    ivs: HashMap<[u8; 32], [u8; IV_LEN]>,
    /// A stash for read-only decryption records nothing (hashing every value costs time).
    disabled: bool,
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} values)", self.ivs.len())
    }
}

impl IvStash {
    fn slot(aad: &[u8], ty: ValueType, plaintext: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((aad.len() as u64).to_be_bytes());
        h.update(aad);
        h.update(ty.as_str().as_bytes());
        h.update([0]);
        h.update(plaintext);
        h.finalize().into()
    }

    fn remember(&mut self, aad: &[u8], ty: ValueType, plaintext: &[u8], iv: [u8; IV_LEN]) {
        if !self.disabled {
            self.ivs.insert(Self::slot(aad, ty, plaintext), iv);
        }
    }

    fn recall(&self, aad: &[u8], ty: ValueType, plaintext: &[u8]) -> Option<[u8; IV_LEN]> {
        self.ivs.get(&Self::slot(aad, ty, plaintext)).copied()
    }

    pub fn len(&self) -> usize {
        self.ivs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }
}

/// Something worth telling the user that does not stop decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A comment the rules say is encrypted did not decrypt; it is kept as written (as sops
    /// does, since comments are outside the MAC).
    UndecryptableComment { path: String },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::UndecryptableComment { path } => write!(
                f,
                "a comment in {path} could not be decrypted and is kept as written \
                 (expected for files from old sops versions; otherwise it was edited)"
            ),
        }
    }
}

/// Why a tree could not be encrypted or decrypted. Paths use sops's `--extract` syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("failed to decrypt the value at {path}: {source}")]
    Decrypt {
        path: String,
        #[source]
        source: CipherError,
    },
    #[error(
        "the value at {path} should be encrypted but is {found}; restore it from version control, or re-encrypt the file"
    )]
    NotEncrypted { path: String, found: &'static str },
    #[error("the value at {path} does not decrypt to its declared type: {source}")]
    BadPlaintext {
        path: String,
        #[source]
        source: ScalarError,
    },
    #[error(
        "the encrypted comment at {path} matches unencrypted_comment_regex, so it could never be decrypted; change the regex"
    )]
    CommentMatchesUnencryptedRegex { path: String },
}

/// One step of a path, for messages: a key (its byte range in the AAD buffer) or a list index.
#[derive(Clone, Copy)]
enum Step {
    Key(usize, usize),
    Index(usize),
}

/// State shared by the encrypt and decrypt walks.
struct Walk<'a> {
    rule: &'a EncryptionRule,
    mac_only_encrypted: bool,
    cipher: ValueCipher,
    mac: MacHasher,
    /// `k1:k2:…:` of the current container.
    aad: Vec<u8>,
    /// Per path depth: did any component so far hit the rule.
    hits: Vec<bool>,
    /// Per map/list level: comments since the last entry (only kept for comment rules).
    comments: Vec<Vec<String>>,
    steps: Vec<Step>,
}

impl<'a> Walk<'a> {
    fn new(rule: &'a EncryptionRule, mac_only_encrypted: bool, key: &DataKey) -> Self {
        Walk {
            rule,
            mac_only_encrypted,
            cipher: ValueCipher::new(key),
            mac: MacHasher::new(mac_only_encrypted),
            aad: Vec::with_capacity(128),
            hits: vec![false],
            comments: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn start_document(&mut self) {
        self.aad.clear();
        self.hits.truncate(1);
        self.comments.clear();
        self.steps.clear();
    }

    fn any_hit(&self) -> bool {
        *self.hits.last().expect("hits is never empty")
    }

    fn decide(&self, is_comment: bool) -> bool {
        self.rule.decide(self.any_hit(), &self.comments, is_comment)
    }

    fn enter_key(&mut self, key: &str) -> usize {
        let mark = self.aad.len();
        self.aad.extend_from_slice(key.as_bytes());
        self.aad.push(b':');
        let hit = self.any_hit() || self.rule.component_hit(key);
        self.hits.push(hit);
        self.steps.push(Step::Key(mark, mark + key.len()));
        mark
    }

    fn leave_key(&mut self, mark: usize) {
        self.aad.truncate(mark);
        self.hits.pop();
        self.steps.pop();
    }

    /// AAD of a leaf: the container path, or `:` at the top level.
    fn leaf_aad(&self) -> &[u8] {
        if self.aad.is_empty() { b":" } else { &self.aad }
    }

    fn push_comment(&mut self, text: &str) {
        if self.rule.uses_comments()
            && let Some(level) = self.comments.last_mut()
        {
            level.push(text.to_owned());
        }
    }

    fn clear_level(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    fn path(&self) -> String {
        if self.steps.is_empty() {
            return "the top level".to_owned();
        }
        let mut out = String::new();
        for s in &self.steps {
            match s {
                Step::Key(start, end) => {
                    let key = String::from_utf8_lossy(&self.aad[*start..*end]);
                    out.push_str(&format!("[{key:?}]"));
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// Encrypts every leaf the rule selects, in place, and returns the MAC (hex, not yet sealed).
///
/// Unchanged values reuse the IV recorded in `stash` (when given), so that re-encrypting under
/// the same key leaves their ciphertext byte-identical.
///
/// The walk decides each value and feeds the MAC in order; the values' AES-GCM and base64
/// work is collected on the way and done afterwards, on several cores for large files.
pub fn encrypt_documents(
    docs: &mut [Document],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
    stash: Option<&IvStash>,
) -> Result<String, TreeError> {
    let mut walk = Walk::new(rule, mac_only_encrypted, key);
    let mut jobs = EncJobs::default();
    for doc in docs.iter_mut() {
        walk.start_document();
        encrypt_map(&mut walk, doc, stash, &mut jobs)?;
    }
    let (cipher, aads) = (&walk.cipher, &jobs.aads);
    let done = parallel::run(&mut jobs.list, |job| -> Result<(), ()> {
        let aad = aads.get(job.aad);
        let bytes = job.scalar.canonical_bytes();
        let iv = iv_for(stash, aad, job.ty, &bytes);
        let enc = cipher.encrypt(&bytes, aad, job.ty, iv);
        drop(bytes);
        *job.scalar = Scalar::str(enc);
        Ok(())
    });
    debug_assert!(done.is_ok(), "encrypting a value cannot fail");
    Ok(walk.mac.finish())
}

/// One value to encrypt once the walk is over.
struct EncJob<'t> {
    scalar: &'t mut Scalar,
    aad: (usize, usize),
    ty: ValueType,
}

/// The values a walk leaves to encrypt, in walk order.
#[derive(Default)]
struct EncJobs<'t> {
    list: Vec<EncJob<'t>>,
    aads: AadArena,
}

fn iv_for(stash: Option<&IvStash>, aad: &[u8], ty: ValueType, plaintext: &[u8]) -> [u8; IV_LEN] {
    stash.and_then(|s| s.recall(aad, ty, plaintext)).unwrap_or_else(cipher::random_iv)
}

fn encrypt_comment(
    walk: &Walk,
    text: &str,
    stash: Option<&IvStash>,
) -> Result<Option<String>, TreeError> {
    if !walk.decide(true) {
        return Ok(None);
    }
    let aad = walk.leaf_aad();
    let iv = iv_for(stash, aad, ValueType::Comment, text.as_bytes());
    let enc = walk.cipher.encrypt(text.as_bytes(), aad, ValueType::Comment, iv);
    if let EncryptionRule::UnencryptedCommentRegex(r) = walk.rule
        && r.is_match(&enc)
    {
        return Err(TreeError::CommentMatchesUnencryptedRegex { path: walk.path() });
    }
    Ok(Some(enc))
}

fn encrypt_map<'t>(
    walk: &mut Walk,
    map: &'t mut Map,
    stash: Option<&IvStash>,
    jobs: &mut EncJobs<'t>,
) -> Result<(), TreeError> {
    walk.comments.push(Vec::new());
    for item in map.0.iter_mut() {
        match item {
            Item::Comment(c) => {
                walk.push_comment(c.text());
                if let Some(enc) = encrypt_comment(walk, c.text(), stash)? {
                    *c = Comment::new(enc);
                }
            }
            Item::Entry(k, v) => {
                let mark = walk.enter_key(k);
                encrypt_node(walk, v, stash, jobs)?;
                walk.leave_key(mark);
                walk.clear_level();
            }
        }
    }
    walk.comments.pop();
    Ok(())
}

fn encrypt_list<'t>(
    walk: &mut Walk,
    list: &'t mut [Node],
    stash: Option<&IvStash>,
    jobs: &mut EncJobs<'t>,
) -> Result<(), TreeError> {
    walk.comments.push(Vec::new());
    for (i, node) in list.iter_mut().enumerate() {
        walk.steps.push(Step::Index(i));
        if let Node::Comment(c) = node {
            walk.push_comment(c.text());
            // sops writes an encrypted list comment as a plain list item.
            if let Some(enc) = encrypt_comment(walk, c.text(), stash)? {
                *node = Node::str(enc);
            }
        } else {
            encrypt_node(walk, node, stash, jobs)?;
            walk.clear_level();
        }
        walk.steps.pop();
    }
    walk.comments.pop();
    Ok(())
}

fn encrypt_node<'t>(
    walk: &mut Walk,
    node: &'t mut Node,
    stash: Option<&IvStash>,
    jobs: &mut EncJobs<'t>,
) -> Result<(), TreeError> {
    match node {
        Node::Map(m) => encrypt_map(walk, m, stash, jobs),
        Node::List(l) => encrypt_list(walk, l, stash, jobs),
        Node::Comment(c) => {
            if let Some(enc) = encrypt_comment(walk, c.text(), stash)? {
                *node = Node::str(enc);
            }
            Ok(())
        }
        Node::Scalar(scalar) => {
            let Some(ty) = scalar.value_type() else { return Ok(()) };
            let encrypted = walk.decide(false);
            let hashed = !walk.mac_only_encrypted || encrypted;
            let bytes = scalar.canonical_bytes();
            if !encrypted || bytes.is_empty() {
                if hashed {
                    walk.mac.update(&bytes);
                }
                return Ok(());
            }
            if bytes.len() < PARALLEL_MAC_BYTES {
                if hashed {
                    walk.mac.update(&bytes);
                }
                drop(bytes);
                let aad = jobs.aads.add(walk.leaf_aad());
                jobs.list.push(EncJob { scalar, aad, ty });
                return Ok(());
            }
            // A large value (the binary store's whole file): hash it for the MAC on another
            // core while it is encrypted.
            let aad = walk.leaf_aad().to_vec();
            let iv = iv_for(stash, &aad, ty, &bytes);
            let (mac, cipher) = (&mut walk.mac, &walk.cipher);
            let enc = std::thread::scope(|s| {
                if hashed {
                    s.spawn(|| mac.update(&bytes));
                }
                cipher.encrypt(&bytes, &aad, ty, iv)
            });
            drop(bytes);
            *scalar = Scalar::str(enc);
            Ok(())
        }
    }
}

/// What decryption produced besides the plaintext tree.
#[derive(Debug)]
pub struct Decrypted {
    /// The MAC computed over the decrypted values (hex), to compare with the stored one.
    pub mac: String,
    pub warnings: Vec<Warning>,
    /// IVs for re-encrypting unchanged values identically.
    pub stash: IvStash,
}

/// Decrypts every leaf the rule selects, in place, computing the MAC as it goes.
///
/// # Errors
/// The first value that fails authentication, is not encrypted where the rule says it must be,
/// or does not parse as its type. On error the documents are partly decrypted: callers must
/// drop them (they are zeroized on drop) and show nothing.
pub fn decrypt_documents(
    docs: &mut [Document],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
) -> Result<Decrypted, TreeError> {
    decrypt_documents_with(docs, key, rule, mac_only_encrypted, true)
}

/// [`decrypt_documents`], recording IVs for re-encryption only when `remember_ivs` is set
/// (read-only decryption skips that work).
///
/// Unless the rule looks at comments, the walk only checks each value and collects it; the
/// values are then decrypted (on several cores for large files) and a second walk feeds the
/// MAC in order. A comment rule decides a value from the comments before it, which may be
/// encrypted list comments, so then each value is decrypted as the walk reaches it.
pub fn decrypt_documents_with(
    docs: &mut [Document],
    key: &DataKey,
    rule: &EncryptionRule,
    mac_only_encrypted: bool,
    remember_ivs: bool,
) -> Result<Decrypted, TreeError> {
    let mut walk = Walk::new(rule, mac_only_encrypted, key);
    let stash = IvStash { disabled: !remember_ivs, ..IvStash::default() };
    let defer = !rule.uses_comments();
    let mut out = DecryptState { warnings: Vec::new(), stash, defer, jobs: DecJobs::default() };
    let mut stopped = None;
    for doc in docs.iter_mut() {
        walk.start_document();
        if let Err(e) = decrypt_map(&mut walk, doc, &mut out) {
            stopped = Some(e);
            break;
        }
    }
    let DecryptState { warnings, mut stash, jobs: DecJobs { mut list, aads }, .. } = out;
    let (cipher, remember) = (&walk.cipher, !stash.disabled);
    let ran = parallel::run(&mut list, |job| -> Result<(), Fail> {
        job.remembered = decrypt_value(job.node, cipher, aads.get(job.aad), remember)?;
        Ok(())
    });
    if let Err((i, fail)) = ran {
        // Values before the failing one are decrypted; the caller drops them all.
        let failed: *const Node = &*list[i].node;
        drop(list);
        return Err(fail.into_error(path_of(docs, failed)));
    }
    if let Some(e) = stopped {
        return Err(e);
    }
    for job in &mut list {
        if let Some(r) = job.remembered.take() {
            stash.ivs.insert(r.0, r.1);
        }
    }
    drop(list);
    if defer {
        for doc in docs.iter() {
            walk.start_document();
            mac_map(&mut walk, doc);
        }
    }
    Ok(Decrypted { mac: walk.mac.finish(), warnings, stash })
}

struct DecryptState<'t> {
    warnings: Vec<Warning>,
    stash: IvStash,
    /// Collect values into `jobs` rather than decrypting them on the spot.
    defer: bool,
    jobs: DecJobs<'t>,
}

/// A value to decrypt once the walk is over.
struct DecJob<'t> {
    node: &'t mut Node,
    aad: (usize, usize),
    remembered: Remembered,
}

/// The values a walk leaves to decrypt, in walk order.
#[derive(Default)]
struct DecJobs<'t> {
    list: Vec<DecJob<'t>>,
    aads: AadArena,
}

/// A value's IV stash entry (slot and IV), when IVs are recorded.
type Remembered = Option<Box<([u8; 32], [u8; IV_LEN])>>;

/// Why a value did not decrypt, before the walk names its path.
enum Fail {
    Decrypt(CipherError),
    BadPlaintext(ScalarError),
}

impl Fail {
    fn into_error(self, path: String) -> TreeError {
        match self {
            Fail::Decrypt(source) => TreeError::Decrypt { path, source },
            Fail::BadPlaintext(source) => TreeError::BadPlaintext { path, source },
        }
    }
}

/// Decrypts a comment's text when the rule says it is encrypted; `None` keeps it as written.
fn decrypt_comment(walk: &Walk, text: &str, out: &mut DecryptState) -> Option<String> {
    if !walk.decide(true) {
        return None;
    }
    let aad = walk.leaf_aad();
    let plain =
        EncValue::parse(text).ok().and_then(|v| walk.cipher.decrypt(&v, aad).ok().map(|p| (v, p)));
    match plain {
        Some((v, p)) => match String::from_utf8(p.to_vec()) {
            Ok(s) => {
                // Recorded before the values collected so far: should a comment and a value
                // have the same path and text, the value's IV is the one kept.
                if let Some(iv) = cipher::iv_of(&v) {
                    out.stash.remember(aad, ValueType::Comment, s.as_bytes(), iv);
                }
                Some(s)
            }
            Err(_) => None,
        },
        None => {
            out.warnings.push(Warning::UndecryptableComment { path: walk.path() });
            None
        }
    }
}

fn decrypt_map<'t>(
    walk: &mut Walk,
    map: &'t mut Map,
    out: &mut DecryptState<'t>,
) -> Result<(), TreeError> {
    walk.comments.push(Vec::new());
    for item in map.0.iter_mut() {
        match item {
            Item::Comment(c) => {
                walk.push_comment(c.text());
                if let Some(plain) = decrypt_comment(walk, c.text(), out) {
                    *c = Comment::new(plain);
                }
            }
            Item::Entry(k, v) => {
                let mark = walk.enter_key(k);
                decrypt_node(walk, v, out)?;
                walk.leave_key(mark);
                walk.clear_level();
            }
        }
    }
    walk.comments.pop();
    Ok(())
}

fn decrypt_list<'t>(
    walk: &mut Walk,
    list: &'t mut [Node],
    out: &mut DecryptState<'t>,
) -> Result<(), TreeError> {
    walk.comments.push(Vec::new());
    for (i, node) in list.iter_mut().enumerate() {
        walk.steps.push(Step::Index(i));
        let is_comment = matches!(node, Node::Comment(_));
        if let Node::Comment(c) = node {
            walk.push_comment(c.text());
        }
        let became_comment = decrypt_node(walk, node, out)?;
        match became_comment {
            // An encrypted list comment is written as a list item; once decrypted it is a
            // comment again and counts for the comment rules as it did when it was encrypted.
            // (sops 3.11 clears the comments here instead, so it cannot decrypt a value that an
            // encrypted list comment precedes: MAC mismatch on its own files.)
            Some(text) if !is_comment => walk.push_comment(text),
            _ if !is_comment => walk.clear_level(),
            _ => {}
        }
        walk.steps.pop();
    }
    walk.comments.pop();
    Ok(())
}

/// Decrypts or collects one node. Returns the text of the comment that a value decrypted to
/// on the spot (an encrypted list comment), which counts for comment rules.
fn decrypt_node<'t>(
    walk: &mut Walk,
    node: &'t mut Node,
    out: &mut DecryptState<'t>,
) -> Result<Option<&'t str>, TreeError> {
    let is_value = match &*node {
        Node::Map(_) | Node::List(_) | Node::Scalar(Scalar::Null) => false,
        Node::Comment(_) | Node::Scalar(_) => true,
    };
    if !is_value {
        match node {
            Node::Map(m) => decrypt_map(walk, m, out)?,
            Node::List(l) => decrypt_list(walk, l, out)?,
            _ => {}
        }
        return Ok(None);
    }
    if let Node::Comment(c) = node {
        if let Some(plain) = decrypt_comment(walk, c.text(), out) {
            *c = Comment::new(plain);
        }
        return Ok(None);
    }
    let encrypted = walk.decide(false);
    let Node::Scalar(scalar) = &*node else { return Ok(None) };
    if encrypted && is_ciphertext(walk, scalar)? {
        if out.defer {
            let aad = out.jobs.aads.add(walk.leaf_aad());
            out.jobs.list.push(DecJob { node, aad, remembered: None });
            return Ok(None);
        }
        let remember = !out.stash.disabled;
        let remembered = decrypt_value(node, &walk.cipher, walk.leaf_aad(), remember)
            .map_err(|f| f.into_error(walk.path()))?;
        if let Some(r) = remembered {
            out.stash.ivs.insert(r.0, r.1);
        }
        return Ok(match &*node {
            Node::Scalar(s) => {
                walk.mac.update(&s.canonical_bytes());
                None
            }
            Node::Comment(c) => Some(c.text()),
            Node::Map(_) | Node::List(_) => None,
        });
    }
    if !out.defer && (!walk.mac_only_encrypted || encrypted) {
        walk.mac.update(&scalar.canonical_bytes());
    }
    Ok(None)
}

/// Checks a leaf the rule says is encrypted: true for an `ENC[...]` string to decrypt, false
/// for the empty string (never encrypted); anything else is refused.
fn is_ciphertext(walk: &Walk, scalar: &Scalar) -> Result<bool, TreeError> {
    let text = match scalar {
        Scalar::Str(b) if b.is_empty() => return Ok(false),
        Scalar::Str(b) => std::str::from_utf8(b)
            .map_err(|_| TreeError::NotEncrypted { path: walk.path(), found: "binary data" })?,
        Scalar::Int(_) | Scalar::Float(_) => {
            return Err(TreeError::NotEncrypted { path: walk.path(), found: "a clear number" });
        }
        Scalar::Bool(_) => {
            return Err(TreeError::NotEncrypted { path: walk.path(), found: "a clear boolean" });
        }
        Scalar::Time(_) => {
            return Err(TreeError::NotEncrypted { path: walk.path(), found: "a clear timestamp" });
        }
        Scalar::Null => return Ok(false),
    };
    if !EncValue::is_encrypted(text) {
        return Err(TreeError::NotEncrypted { path: walk.path(), found: "clear text" });
    }
    Ok(true)
}

/// Decrypts one `ENC[...]` string node in place (checked by [`is_ciphertext`]); an encrypted
/// list comment becomes a comment node again. Returns the value's IV stash entry when
/// `remember` is set.
fn decrypt_value(
    node: &mut Node,
    cipher: &ValueCipher,
    aad: &[u8],
    remember: bool,
) -> Result<Remembered, Fail> {
    let Node::Scalar(Scalar::Str(bytes)) = &*node else { return Ok(None) };
    let text = std::str::from_utf8(bytes).map_err(|_| Fail::Decrypt(CipherError::Malformed))?;
    let sealed = Sealed::parse(text).map_err(Fail::Decrypt)?;
    let ty = ValueType::parse(sealed.type_tag).map_err(Fail::BadPlaintext)?;
    let iv = sealed.iv32().filter(|_| remember);
    let plain = cipher.open(sealed, aad).map_err(Fail::Decrypt)?;
    if ty == ValueType::Comment {
        let text = String::from_utf8(plain.to_vec())
            .map_err(|_| Fail::BadPlaintext(ScalarError::Malformed("comment")))?;
        let remembered = iv.map(|iv| Box::new((IvStash::slot(aad, ty, text.as_bytes()), iv)));
        *node = Node::Comment(Comment::new(text));
        return Ok(remembered);
    }
    let typed = Scalar::from_plaintext(ty, plain).map_err(Fail::BadPlaintext)?;
    let remembered = iv.map(|iv| Box::new((IvStash::slot(aad, ty, &typed.canonical_bytes()), iv)));
    *node = Node::Scalar(typed);
    Ok(remembered)
}

/// Feeds the MAC from decrypted documents, in walk order: every scalar but null, only the
/// encrypted ones with `mac_only_encrypted`; comments never (nor decrypted list comments).
/// For rules that do not look at comments, this is what the decrypting walk would have fed.
fn mac_map(walk: &mut Walk, map: &Map) {
    for (k, v) in map.entries() {
        let mark = walk.enter_key(k);
        mac_node(walk, v);
        walk.leave_key(mark);
    }
}

fn mac_node(walk: &mut Walk, node: &Node) {
    match node {
        Node::Map(m) => mac_map(walk, m),
        Node::List(l) => l.iter().for_each(|n| mac_node(walk, n)),
        Node::Comment(_) | Node::Scalar(Scalar::Null) => {}
        Node::Scalar(s) => {
            if !walk.mac_only_encrypted || walk.decide(false) {
                walk.mac.update(&s.canonical_bytes());
            }
        }
    }
}

/// The path of `target` in `docs`, as [`Walk::path`] names it (for the error of a value that
/// failed after the walk).
fn path_of(docs: &[Document], target: *const Node) -> String {
    fn find(node: &Node, target: *const Node, path: &mut Vec<String>) -> bool {
        if std::ptr::eq(node, target) {
            return true;
        }
        match node {
            Node::Map(m) => in_map(m, target, path),
            Node::List(l) => l.iter().enumerate().any(|(i, n)| {
                path.push(format!("[{i}]"));
                let found = find(n, target, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Node::Scalar(_) | Node::Comment(_) => false,
        }
    }
    fn in_map(map: &Map, target: *const Node, path: &mut Vec<String>) -> bool {
        map.entries().any(|(k, v)| {
            path.push(format!("[{k:?}]"));
            let found = find(v, target, path);
            if !found {
                path.pop();
            }
            found
        })
    }
    let mut path = Vec::new();
    if docs.iter().any(|d| in_map(d, target, &mut path)) && !path.is_empty() {
        path.concat()
    } else {
        "the top level".to_owned()
    }
}

/// The plaintext of every value, for tests and tools that compare trees: canonical bytes of
/// each non-null scalar in walk order.
pub fn leaf_bytes(docs: &[Document]) -> Vec<Zeroizing<Vec<u8>>> {
    fn node(n: &Node, out: &mut Vec<Zeroizing<Vec<u8>>>) {
        match n {
            Node::Map(m) => map(m, out),
            Node::List(l) => l.iter().for_each(|x| node(x, out)),
            Node::Scalar(Scalar::Null) | Node::Comment(_) => {}
            Node::Scalar(s) => out.push(s.canonical_bytes().to_zeroizing()),
        }
    }
    fn map(m: &Map, out: &mut Vec<Zeroizing<Vec<u8>>>) {
        m.entries().for_each(|(_, v)| node(v, out));
    }
    let mut out = Vec::new();
    docs.iter().for_each(|d| map(d, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::mac;
    use crate::format::metadata::Metadata;

    /// Test-only bridge from serde_json (key order kept) to the tree, numbers as floats.
    fn from_json(v: &serde_json::Value) -> Node {
        match v {
            serde_json::Value::Null => Node::Scalar(Scalar::Null),
            serde_json::Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
            serde_json::Value::Number(n) => Node::Scalar(Scalar::Float(n.as_f64().unwrap())),
            serde_json::Value::String(s) => Node::str(s.clone()),
            serde_json::Value::Array(a) => Node::List(a.iter().map(from_json).collect()),
            serde_json::Value::Object(o) => Node::Map(Map(o
                .iter()
                .map(|(k, v)| Item::Entry(k.clone(), from_json(v)))
                .collect())),
        }
    }

    fn fixture(name: &str) -> (Vec<Document>, Metadata) {
        let path = format!("{}/tests/fixtures/sops/{name}", env!("CARGO_MANIFEST_DIR"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let Node::Map(mut doc) = from_json(&v) else { panic!("top level is an object") };
        let Some(Node::Map(meta)) = doc.remove("sops") else { panic!("no sops block") };
        (vec![doc], Metadata::from_tree(&meta).unwrap())
    }

    fn key(hex_key: &str) -> DataKey {
        DataKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
    }

    const BASIC_JSON_KEY: &str = "206974d3ae3dfb76a2cd730fdb578b83c6e2512ce464d9d6f28b7413d3d52ccb";

    #[test]
    fn decrypts_sops_json_fixture_and_verifies_its_mac() {
        let (mut docs, md) = fixture("basic.enc.json");
        let k = key(BASIC_JSON_KEY);
        let out = decrypt_documents(&mut docs, &k, &md.rule, md.mac_only_encrypted).unwrap();
        assert_eq!(mac::verify(&k, md.mac.as_deref(), &out.mac, &md.mac_aad()), Ok(()));
        assert_eq!(docs[0].get("replicas"), Some(&Node::Scalar(Scalar::Float(3.0))));
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn reencrypting_unchanged_values_reproduces_sops_ciphertext() {
        let (original, md) = fixture("basic.enc.json");
        let mut docs = original.clone();
        let k = key(BASIC_JSON_KEY);
        let out = decrypt_documents(&mut docs, &k, &md.rule, md.mac_only_encrypted).unwrap();
        let mac_hex = encrypt_documents(&mut docs, &k, &md.rule, false, Some(&out.stash)).unwrap();
        assert_eq!(docs, original, "every value keeps its IV, so its ciphertext");
        assert_eq!(mac_hex, out.mac);
    }

    #[test]
    fn wrong_key_fails_on_first_value_naming_its_path() {
        let (mut docs, md) = fixture("basic.enc.json");
        let err = decrypt_documents(&mut docs, &DataKey::generate(), &md.rule, false).unwrap_err();
        assert!(
            matches!(&err, TreeError::Decrypt { path, source: CipherError::Authentication } if path == "[\"service\"]"),
            "{err:?}"
        );
    }

    #[test]
    fn swapped_values_fail_authentication() {
        let (mut docs, md) = fixture("neg-swapped-values.enc.json");
        let err = decrypt_documents(&mut docs, &key(BASIC_JSON_KEY), &md.rule, false).unwrap_err();
        assert!(matches!(err, TreeError::Decrypt { source: CipherError::Authentication, .. }));
    }

    #[test]
    fn clear_value_where_ciphertext_is_expected_is_refused() {
        let (mut docs, md) = fixture("basic.enc.json");
        docs[0].insert("service", Node::str("plaintext!"));
        let err = decrypt_documents(&mut docs, &key(BASIC_JSON_KEY), &md.rule, false).unwrap_err();
        assert_eq!(
            err,
            TreeError::NotEncrypted { path: "[\"service\"]".into(), found: "clear text" }
        );
        docs[0].insert("service", Node::Scalar(Scalar::Int(5)));
        let err = decrypt_documents(&mut docs, &key(BASIC_JSON_KEY), &md.rule, false).unwrap_err();
        assert!(matches!(err, TreeError::NotEncrypted { found: "a clear number", .. }));
    }

    #[test]
    fn value_after_an_encrypted_list_comment_decrypts() {
        // `# sops:enc` leaves the next list comment and the value after it encrypted; the
        // encrypted comment becomes a list item, which must not reset the comments on decrypt.
        let mut doc = Map::new();
        doc.push(
            "a",
            Node::List(vec![
                Node::Comment(Comment::new(" sops:enc")),
                Node::Comment(Comment::new(" second")),
                Node::str("value"),
            ]),
        );
        let plain = vec![doc];
        let rule = EncryptionRule::from_field("encrypted_comment_regex", "sops:enc").unwrap();
        let k = DataKey::generate();
        for mac_only in [false, true] {
            let mut docs = plain.clone();
            let mac_enc = encrypt_documents(&mut docs, &k, &rule, mac_only, None).unwrap();
            let Some(Node::List(items)) = docs[0].get("a") else { panic!() };
            assert!(items[1].as_str().unwrap().ends_with("type:comment]"));
            assert!(items[2].as_str().unwrap().ends_with("type:str]"));
            let out = decrypt_documents(&mut docs, &k, &rule, mac_only).unwrap();
            assert_eq!(out.mac, mac_enc);
            assert_eq!(docs, plain);
        }
    }

    /// More values than [`parallel::MIN_PARALLEL_JOBS`], so that they are encrypted and
    /// decrypted on several threads: clear keys, types, lists with comments and nulls.
    fn large_document() -> Document {
        let mut doc = Map::new();
        for i in 0..1_500 {
            let value = match i % 5 {
                0 => Node::Scalar(Scalar::Int(i)),
                1 => Node::List(vec![
                    Node::str(format!("item {i}")),
                    Node::Comment(Comment::new(format!(" comment {i}"))),
                    Node::Scalar(Scalar::Null),
                    Node::Scalar(Scalar::Bool(i % 2 == 0)),
                ]),
                _ => Node::str(format!("value {i}")),
            };
            let key = if i % 7 == 0 { format!("k{i}_unencrypted") } else { format!("k{i}") };
            doc.push(key, value);
        }
        doc
    }

    #[test]
    fn many_values_round_trip_on_several_threads_with_the_same_mac() {
        let k = DataKey::generate();
        for mac_only in [false, true] {
            let plain = vec![large_document()];
            let mut docs = plain.clone();
            let mac_enc =
                encrypt_documents(&mut docs, &k, &EncryptionRule::None, mac_only, None).unwrap();
            assert!(docs[0].get("k2").unwrap().as_str().unwrap().starts_with("ENC[AES256_GCM,"));
            assert_eq!(docs[0].get("k7_unencrypted").and_then(Node::as_str), Some("value 7"));
            let encrypted = docs.clone();
            let out = decrypt_documents(&mut docs, &k, &EncryptionRule::None, mac_only).unwrap();
            assert_eq!(out.mac, mac_enc, "mac_only_encrypted = {mac_only}");
            assert_eq!(docs, plain);
            // Every IV is recorded: re-encrypting gives the same ciphertexts.
            let mac_again =
                encrypt_documents(&mut docs, &k, &EncryptionRule::None, mac_only, Some(&out.stash))
                    .unwrap();
            assert_eq!(mac_again, mac_enc);
            assert_eq!(docs, encrypted);
        }
    }

    #[test]
    fn the_first_bad_value_in_order_is_reported_with_its_path() {
        let k = DataKey::generate();
        let mut docs = vec![large_document()];
        encrypt_documents(&mut docs, &k, &EncryptionRule::None, false, None).unwrap();
        // Swap two values late in the file (the last thread's chunk), then break an earlier one.
        let (a, b) = (docs[0].get("k1402").unwrap().clone(), docs[0].get("k1403").unwrap().clone());
        docs[0].insert("k1402", b);
        docs[0].insert("k1403", a);
        let mut late = docs.clone();
        let err = decrypt_documents(&mut late, &k, &EncryptionRule::None, false).unwrap_err();
        assert!(
            matches!(&err, TreeError::Decrypt { path, source: CipherError::Authentication } if path == "[\"k1402\"]"),
            "{err:?}"
        );
        let Some(Node::List(items)) = docs[0].get_mut("k1006") else { panic!("k1006 is a list") };
        items[0] = Node::str("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]");
        docs[0].insert("k1404", Node::str("clear"));
        let err = decrypt_documents(&mut docs, &k, &EncryptionRule::None, false).unwrap_err();
        assert!(
            matches!(&err, TreeError::Decrypt { path, source: CipherError::Malformed } if path == "[\"k1006\"][0]"),
            "{err:?}"
        );
    }

    #[test]
    fn a_clear_value_after_the_collected_ones_is_reported_when_they_decrypt() {
        let k = DataKey::generate();
        let mut docs = vec![large_document()];
        encrypt_documents(&mut docs, &k, &EncryptionRule::None, false, None).unwrap();
        docs[0].insert("k1404", Node::str("clear"));
        let err = decrypt_documents(&mut docs, &k, &EncryptionRule::None, false).unwrap_err();
        assert_eq!(
            err,
            TreeError::NotEncrypted { path: "[\"k1404\"]".into(), found: "clear text" }
        );
    }

    #[test]
    fn round_trip_with_list_comments_and_mac_only_encrypted() {
        let mut doc = Map::new();
        doc.push("keep_unencrypted", Node::str("clear"));
        doc.0.push(Item::Comment(Comment::new(" top comment")));
        doc.push(
            "list",
            Node::List(vec![
                Node::str("a"),
                Node::Comment(Comment::new(" in list")),
                Node::str(""),
            ]),
        );
        doc.push("n", Node::Scalar(Scalar::Int(7)));
        let plain = vec![doc];
        let k = DataKey::generate();
        for mac_only in [false, true] {
            let mut docs = plain.clone();
            let mac_enc =
                encrypt_documents(&mut docs, &k, &EncryptionRule::None, mac_only, None).unwrap();
            let Some(Node::List(items)) = docs[0].get("list") else { panic!() };
            assert!(
                items[1].as_str().unwrap().ends_with("type:comment]"),
                "list comment is an item"
            );
            assert_eq!(items[2].as_str(), Some(""), "empty strings stay clear");
            assert_eq!(docs[0].get("keep_unencrypted").and_then(Node::as_str), Some("clear"));
            let out = decrypt_documents(&mut docs, &k, &EncryptionRule::None, mac_only).unwrap();
            assert_eq!(out.mac, mac_enc);
            assert_eq!(docs, plain);
        }
    }
}
