//! Value encryption: AES-256-GCM with SOPS's 32-byte IV, the key path as associated data, and
//! the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` string form.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::{U12, U16, U32};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use super::scalar::ValueType;

/// AES-256-GCM with the 32-byte nonce sops writes.
type Aes256GcmSops = AesGcm<Aes256, U32>;
/// Hand-made or old files with a 12-byte IV (sops sizes the nonce from the IV it reads).
type Aes256Gcm12 = AesGcm<Aes256, U12>;
/// 16-byte IVs, which the same rule accepts.
type Aes256Gcm16 = AesGcm<Aes256, U16>;

/// Length of the IV sops writes.
pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// A file's 32-byte data key. Wiped on drop; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        DataKey(key)
    }

    /// Takes exactly 32 bytes; anything else is not a data key.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        let key = DataKey(Zeroizing::new(arr));
        let mut arr = arr;
        arr.zeroize();
        Some(key)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

/// The parts of an `ENC[...]` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: [u8; TAG_LEN],
    /// The `type:` field as written (checked when the value is decrypted).
    pub type_tag: String,
}

/// Why a value could not be decrypted. Deliberately coarse: no oracle about which check failed
/// beyond what sops itself reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("the value is not in sops' ENC[AES256_GCM,data:…,iv:…,tag:…,type:…] format")]
    Malformed,
    #[error("the value failed authentication (wrong key, or the value was tampered with or moved)")]
    Authentication,
    #[error("unsupported IV length {0} (sops writes 32 bytes)")]
    IvLength(usize),
}

impl EncValue {
    /// True when `s` looks like an encrypted value (sops's prefix test).
    pub fn is_encrypted(s: &str) -> bool {
        s.starts_with("ENC[AES256_GCM,")
    }

    /// Strict parse of `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
    pub fn parse(s: &str) -> Result<EncValue, CipherError> {
        let inner = s
            .strip_prefix("ENC[AES256_GCM,")
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(CipherError::Malformed)?;
        let mut parts = inner.split(',');
        let mut field = |name: &str| -> Result<&str, CipherError> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(|p| p.strip_prefix(':'))
                .ok_or(CipherError::Malformed)
        };
        let data = field("data")?;
        let iv = field("iv")?;
        let tag = field("tag")?;
        let type_tag = field("type")?;
        if parts.next().is_some() {
            return Err(CipherError::Malformed);
        }
        let decode = |b: &str| B64.decode(b).map_err(|_| CipherError::Malformed);
        let data = if data.is_empty() { Vec::new() } else { decode(data)? };
        let tag: [u8; TAG_LEN] = decode(tag)?.try_into().map_err(|_| CipherError::Malformed)?;
        Ok(EncValue { data, iv: decode(iv)?, tag, type_tag: type_tag.to_owned() })
    }

    /// The canonical string form.
    pub fn to_string_form(&self) -> String {
        enc_string(&self.data, &self.iv, &self.tag, &self.type_tag)
    }
}

/// An `ENC[...]` string decoded for decryption, borrowing its type tag: the ciphertext is
/// decoded straight into the buffer that becomes the plaintext, so that decrypting a value
/// costs one allocation (the many-values path; [`EncValue`] is the general form).
pub struct Sealed<'a> {
    /// Ciphertext, decrypted in place; wiped on drop.
    data: Zeroizing<Vec<u8>>,
    iv: [u8; IV_LEN],
    /// Decoded IV length: 12, 16 or 32 are usable, anything else is refused on decryption.
    iv_len: usize,
    tag: [u8; TAG_LEN],
    /// The `type:` field as written.
    pub type_tag: &'a str,
}

impl<'a> Sealed<'a> {
    /// Parses and decodes `s` exactly as strictly as [`EncValue::parse`].
    pub fn parse(s: &'a str) -> Result<Sealed<'a>, CipherError> {
        let inner = s
            .strip_prefix("ENC[AES256_GCM,")
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(CipherError::Malformed)?;
        let mut parts = inner.split(',');
        let mut field = |name: &str| -> Result<&'a str, CipherError> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(|p| p.strip_prefix(':'))
                .ok_or(CipherError::Malformed)
        };
        let (data, iv, tag, type_tag) =
            (field("data")?, field("iv")?, field("tag")?, field("type")?);
        if parts.next().is_some() {
            return Err(CipherError::Malformed);
        }
        let mut buffer = Zeroizing::new(Vec::new());
        if !data.is_empty() {
            B64.decode_vec(data, &mut buffer).map_err(|_| CipherError::Malformed)?;
        }
        let mut tag_buf = [0u8; TAG_LEN + 8];
        let tag_len = B64.decode_slice(tag, &mut tag_buf).map_err(|_| CipherError::Malformed)?;
        let tag: [u8; TAG_LEN] =
            tag_buf[..tag_len].try_into().map_err(|_| CipherError::Malformed)?;
        let mut iv_buf = [0u8; IV_LEN + 16];
        let (iv, iv_len) = match B64.decode_slice(iv, &mut iv_buf) {
            Ok(n) if n <= IV_LEN => {
                let mut out = [0u8; IV_LEN];
                out[..n].copy_from_slice(&iv_buf[..n]);
                (out, n)
            }
            Ok(n) => ([0u8; IV_LEN], n),
            // Too long for the buffer: only its length matters (it is refused).
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                ([0u8; IV_LEN], B64.decode(iv).map_err(|_| CipherError::Malformed)?.len())
            }
            Err(_) => return Err(CipherError::Malformed),
        };
        Ok(Sealed { data: buffer, iv, iv_len, tag, type_tag })
    }

    /// The IV when it is a 32-byte one (for IV reuse).
    pub fn iv32(&self) -> Option<[u8; IV_LEN]> {
        (self.iv_len == IV_LEN).then_some(self.iv)
    }
}

/// `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, built in one allocation.
fn enc_string(data: &[u8], iv: &[u8], tag: &[u8], type_tag: &str) -> String {
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    let mut out =
        String::with_capacity(48 + b64_len(data.len()) + b64_len(iv.len()) + type_tag.len());
    out.push_str("ENC[AES256_GCM,data:");
    B64.encode_string(data, &mut out);
    out.push_str(",iv:");
    B64.encode_string(iv, &mut out);
    out.push_str(",tag:");
    B64.encode_string(tag, &mut out);
    out.push_str(",type:");
    out.push_str(type_tag);
    out.push(']');
    out
}

/// A fresh random 32-byte IV from the thread's CSPRNG (ChaCha, seeded and reseeded from the
/// operating system), which avoids a system call per value on large files.
pub fn random_iv() -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    rand::thread_rng().fill_bytes(&mut iv);
    iv
}

/// AES-256-GCM keyed once with a data key, for encrypting or decrypting many values. The key
/// schedule is wiped on drop.
pub struct ValueCipher {
    gcm: Aes256GcmSops,
    key: DataKey,
}

impl ValueCipher {
    pub fn new(key: &DataKey) -> ValueCipher {
        let gcm = Aes256GcmSops::new(GenericArray::from_slice(key.as_bytes()));
        ValueCipher { gcm, key: key.clone() }
    }

    /// Encrypts one value with `aad`; `iv` is fresh unless the caller reuses one for an
    /// unchanged value (sops-format.md §2.5).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8], ty: ValueType, iv: [u8; IV_LEN]) -> String {
        use aes_gcm::aead::AeadInPlace;
        let mut sealed = plaintext.to_vec();
        let tag = self
            .gcm
            .encrypt_in_place_detached(GenericArray::from_slice(&iv), aad, &mut sealed)
            .expect("AES-GCM encryption cannot fail for in-memory sizes");
        enc_string(&sealed, &iv, &tag, ty.as_str())
    }

    /// Encrypts `buffer` in place with a `str` value's AAD and returns the tag (for values too
    /// large to copy again, see [`super::file::SopsFile::encrypt_binary_to`]).
    pub fn encrypt_in_place(
        &self,
        buffer: &mut [u8],
        aad: &[u8],
        iv: &[u8; IV_LEN],
    ) -> [u8; TAG_LEN] {
        use aes_gcm::aead::AeadInPlace;
        self.gcm
            .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, buffer)
            .expect("AES-GCM encryption cannot fail for in-memory sizes")
            .into()
    }

    /// Decrypts a parsed value. Returns the plaintext; the caller interprets `type_tag`.
    pub fn decrypt(&self, value: &EncValue, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        let mut joined = Vec::with_capacity(value.data.len() + TAG_LEN);
        joined.extend_from_slice(&value.data);
        joined.extend_from_slice(&value.tag);
        let payload = Payload { msg: &joined, aad };
        let k = GenericArray::from_slice(self.key.as_bytes());
        let out = match value.iv.len() {
            32 => self.gcm.decrypt(GenericArray::from_slice(&value.iv), payload),
            12 => Aes256Gcm12::new(k).decrypt(GenericArray::from_slice(&value.iv), payload),
            16 => Aes256Gcm16::new(k).decrypt(GenericArray::from_slice(&value.iv), payload),
            n => return Err(CipherError::IvLength(n)),
        };
        out.map(Zeroizing::new).map_err(|_| CipherError::Authentication)
    }
}

impl ValueCipher {
    /// Decrypts a [`Sealed`] value in place and returns the plaintext (same checks and errors
    /// as [`ValueCipher::decrypt`]).
    pub fn open(&self, sealed: Sealed<'_>, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        use aes_gcm::aead::AeadInPlace;
        let Sealed { mut data, iv, iv_len, tag, .. } = sealed;
        let tag = GenericArray::from_slice(&tag);
        let k = GenericArray::from_slice(self.key.as_bytes());
        let out = match iv_len {
            32 => self.gcm.decrypt_in_place_detached(
                GenericArray::from_slice(&iv),
                aad,
                &mut data,
                tag,
            ),
            12 => Aes256Gcm12::new(k).decrypt_in_place_detached(
                GenericArray::from_slice(&iv[..12]),
                aad,
                &mut data,
                tag,
            ),
            16 => Aes256Gcm16::new(k).decrypt_in_place_detached(
                GenericArray::from_slice(&iv[..16]),
                aad,
                &mut data,
                tag,
            ),
            n => return Err(CipherError::IvLength(n)),
        };
        out.map(|()| data).map_err(|_| CipherError::Authentication)
    }
}

/// Encrypts one value under `key` (see [`ValueCipher::encrypt`]).
pub fn encrypt(
    key: &DataKey,
    plaintext: &[u8],
    aad: &[u8],
    ty: ValueType,
    iv: [u8; IV_LEN],
) -> String {
    ValueCipher::new(key).encrypt(plaintext, aad, ty, iv)
}

/// Decrypts one value under `key` (see [`ValueCipher::decrypt`]).
pub fn decrypt(
    key: &DataKey,
    value: &EncValue,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    ValueCipher::new(key).decrypt(value, aad)
}

/// The IV of an `ENC[...]` string when it is a well-formed 32-byte one (for IV reuse).
pub fn iv_of(value: &EncValue) -> Option<[u8; IV_LEN]> {
    value.iv.as_slice().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let key = DataKey::generate();
        let s = encrypt(&key, b"hunter2", b"a:b:", ValueType::Str, random_iv());
        let v = EncValue::parse(&s).unwrap();
        assert_eq!(v.iv.len(), 32);
        assert_eq!(&*decrypt(&key, &v, b"a:b:").unwrap(), b"hunter2");
        assert_eq!(decrypt(&key, &v, b"a:c:"), Err(CipherError::Authentication));
    }

    #[test]
    fn same_iv_same_key_gives_identical_string() {
        let key = DataKey::generate();
        let iv = random_iv();
        assert_eq!(
            encrypt(&key, b"x", b"k:", ValueType::Str, iv),
            encrypt(&key, b"x", b"k:", ValueType::Str, iv)
        );
    }

    #[test]
    fn decrypts_a_value_written_by_sops() {
        // fixture basic.enc.yaml, service.name, data key from manifest.json
        let key = DataKey::from_slice(
            &hex::decode("0a5f6672a15771dd8678887bc304ac152c4731b99c55317f2a01940c1e9386f1")
                .unwrap(),
        )
        .unwrap();
        let v = EncValue::parse("ENC[AES256_GCM,data:oQOKj8vBk6Tbw5Ee,iv:AAdjDCIC7z8Vl5v0tIxsRCYGSz3krtLFZjfoz3078I8=,tag:8qBPjaPNSR4Dy2w37AAl7g==,type:str]").unwrap();
        assert_eq!(&*decrypt(&key, &v, b"service:name:").unwrap(), b"payments-api");
    }

    #[test]
    fn sealed_decrypts_and_refuses_exactly_like_enc_value() {
        let key = DataKey::generate();
        let c = ValueCipher::new(&key);
        let good = encrypt(&key, b"hunter2", b"a:", ValueType::Int, random_iv());
        let opened = c.open(Sealed::parse(&good).unwrap(), b"a:").unwrap();
        assert_eq!(&*opened, b"hunter2");
        assert_eq!(Sealed::parse(&good).unwrap().type_tag, "int");
        let iv = EncValue::parse(&good).unwrap().iv;
        assert_eq!(Sealed::parse(&good).unwrap().iv32().map(|i| i.to_vec()), Some(iv));
        let empty = encrypt(&key, b"", b"a:", ValueType::Str, random_iv());
        assert_eq!(&*c.open(Sealed::parse(&empty).unwrap(), b"a:").unwrap(), b"");
        let tag = "tag:AAAAAAAAAAAAAAAAAAAAAA==";
        let long_iv =
            format!("ENC[AES256_GCM,data:AA==,iv:{},{tag},type:str]", B64.encode([1u8; 60]));
        let cases = [
            good.clone(),
            good.replace("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:!"),
            good.replace(",iv:", ",iv:A"),
            format!("ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAA,{tag},type:str]"),
            format!("ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAA==,{tag},type:str]"),
            format!("ENC[AES256_GCM,data:AA==,iv:AAAA,{tag},type:str]"),
            long_iv,
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]".to_owned(),
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==]".to_owned(),
        ];
        for case in &cases {
            let general = EncValue::parse(case).and_then(|v| c.decrypt(&v, b"b:"));
            let sealed = Sealed::parse(case).and_then(|v| c.open(v, b"b:"));
            assert_eq!(sealed, general, "{case}");
        }
    }

    #[test]
    fn rejects_malformed_strings() {
        for bad in [
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]x",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
            "plain",
        ] {
            assert_eq!(EncValue::parse(bad), Err(CipherError::Malformed), "{bad}");
        }
    }

    #[test]
    fn data_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey([REDACTED])");
    }
}
