//! DSSE, the Dead Simple Signing Envelope (protocol v1): how a payload and its type are
//! signed together and carried as JSON.
//!
//! The signature covers PAE(payloadType, payload), never the JSON around them, so the
//! envelope's own formatting does not matter and a payload cannot be re-labelled as another
//! type without breaking the signature.

use std::path::Path;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ed25519_dalek::{Signature as Ed25519Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::keys::keyid;
use super::AttestError;

/// The payloadType of an in-toto statement; reprobe signs nothing else.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Pre-Authentication Encoding of DSSE v1: the exact bytes that are signed.
///
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where LEN is the byte length in
/// ASCII decimal without leading zeros and SP one space. Lengths make the encoding
/// unambiguous: no two (type, body) pairs encode the same, so a signature over one can never
/// be passed off as a signature over another.
pub fn pae(payload_type: &[u8], body: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = body.len().to_string();
    let mut out = Vec::with_capacity(
        b"DSSEv1".len() + 4 + type_len.len() + payload_type.len() + body_len.len() + body.len(),
    );
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type);
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// A DSSE envelope as JSON: what `check --attest` writes and `attestation verify` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// How to read the payload; [`PAYLOAD_TYPE`] for reprobe's statements.
    pub payload_type: String,
    /// The serialized body, base64 (reprobe writes the standard alphabet with padding and
    /// reads either alphabet, as DSSE requires).
    pub payload: String,
    /// Signatures over PAE(payloadType, payload).
    pub signatures: Vec<Signature>,
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Which key signed: for reprobe, the lower-case hex sha256 of the Ed25519 public key's
    /// 32 raw bytes (see [`keyid`]). DSSE leaves it unauthenticated, so it only chooses the
    /// error message, never whether a signature is accepted.
    #[serde(default)]
    pub keyid: String,
    /// The 64-byte Ed25519 signature, base64.
    pub sig: String,
}

impl Envelope {
    /// Signs `body` as `payload_type` with `key`. Ed25519 is deterministic: the same key and
    /// payload always give the same envelope.
    pub fn sign_payload(payload_type: &str, body: &[u8], key: &SigningKey) -> Envelope {
        let signature = key.sign(&pae(payload_type.as_bytes(), body));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: STANDARD.encode(body),
            signatures: vec![Signature {
                keyid: keyid(&key.verifying_key()),
                sig: STANDARD.encode(signature.to_bytes()),
            }],
        }
    }

    /// The envelope as pretty JSON with a final newline, as written to files.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("an envelope is plain data");
        text.push('\n');
        text
    }

    /// Checks that a signature by `key` covers this envelope's payload and payloadType and
    /// returns the decoded payload. `path` only names the file in errors.
    ///
    /// Every signature is tried against `key` whatever its keyid says; the keyids only pick
    /// the error: [`AttestError::Tampered`] when one claims `key` but does not verify,
    /// [`AttestError::WrongKey`] when all name other keys, [`AttestError::NotVerified`] when
    /// none names a key. The payloadType is not judged here (see [`PAYLOAD_TYPE`]).
    pub fn verified_payload(
        &self,
        key: &VerifyingKey,
        path: &Path,
    ) -> Result<Vec<u8>, AttestError> {
        let malformed = |detail: String| AttestError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let body = decode_base64(&self.payload)
            .map_err(|err| malformed(format!("payload is not base64: {err}")))?;
        if self.signatures.is_empty() {
            return Err(AttestError::Unsigned {
                path: path.to_path_buf(),
            });
        }
        let message = pae(self.payload_type.as_bytes(), &body);
        for (index, signature) in self.signatures.iter().enumerate() {
            let bytes = decode_base64(&signature.sig).map_err(|err| {
                malformed(format!("signatures[{index}].sig is not base64: {err}"))
            })?;
            // A signature of the wrong length cannot verify: it is treated as one that
            // does not, so a damaged signature reads as tampering, not as a format error.
            let Ok(signature) = Ed25519Signature::from_slice(&bytes) else {
                continue;
            };
            if key.verify_strict(&message, &signature).is_ok() {
                return Ok(body);
            }
        }
        let ours = keyid(key);
        let claimed: Vec<&str> = self
            .signatures
            .iter()
            .map(|s| s.keyid.as_str())
            .filter(|k| !k.is_empty())
            .collect();
        Err(if claimed.contains(&ours.as_str()) {
            AttestError::Tampered {
                path: path.to_path_buf(),
                keyid: ours,
            }
        } else if claimed.is_empty() {
            AttestError::NotVerified {
                path: path.to_path_buf(),
                keyid: ours,
            }
        } else {
            AttestError::WrongKey {
                path: path.to_path_buf(),
                keyid: ours,
                signed_by: claimed.join(", "),
            }
        })
    }
}

/// Decodes base64 in either the standard or the URL-safe alphabet, padded or not: DSSE
/// says verifiers must accept both.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    STANDARD_ANY
        .decode(text)
        .or_else(|err| URL_SAFE_ANY.decode(text).map_err(|_| err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Key "A" of the DSSE repository's test vectors (the first key of RFC 8032's tests).
    fn key_a() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            &mut seed,
        )
        .unwrap();
        SigningKey::from_bytes(&seed)
    }

    fn key_b() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            &mut seed,
        )
        .unwrap();
        SigningKey::from_bytes(&seed)
    }

    const STATEMENT_BODY: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;

    #[test]
    fn pae_matches_the_protocol_example() {
        assert_eq!(
            pae(b"http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn pae_counts_bytes_and_keeps_empty_fields() {
        // The type's UTF-8 length (29), not its 28 characters.
        assert_eq!(
            pae("application/vnd.exämple+json".as_bytes(), b"x"),
            "DSSEv1 29 application/vnd.exämple+json 1 x"
                .as_bytes()
                .to_vec()
        );
        assert_eq!(
            pae(PAYLOAD_TYPE.as_bytes(), b""),
            b"DSSEv1 28 application/vnd.in-toto+json 0 ".to_vec()
        );
        assert_eq!(pae(b"", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn signing_matches_the_published_vector() {
        // The "single-signature" vector of the DSSE test vectors: Ed25519 is deterministic,
        // so signing the same payload with the same key must give the same bytes.
        let envelope = Envelope::sign_payload(PAYLOAD_TYPE, STATEMENT_BODY, &key_a());
        assert_eq!(
            envelope.payload,
            "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ=="
        );
        assert_eq!(
            envelope.signatures[0].sig,
            "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
        );
        let path = Path::new("vector.json");
        let body = envelope
            .verified_payload(&key_a().verifying_key(), path)
            .unwrap();
        assert_eq!(body, STATEMENT_BODY);
    }

    #[test]
    fn url_safe_base64_is_accepted() {
        // The "url-safe-base64" vector of the DSSE test vectors.
        let envelope = Envelope {
            payload_type: PAYLOAD_TYPE.to_string(),
            payload: "-_-_Pj8=".to_string(),
            signatures: vec![Signature {
                keyid: "A".to_string(),
                sig: "P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==".to_string(),
            }],
        };
        let got = envelope
            .verified_payload(&key_a().verifying_key(), Path::new("e"))
            .unwrap();
        assert_eq!(got, [0xfb, 0xff, 0xbf, 0x3e, 0x3f]);
        let mut unpadded = envelope;
        unpadded.signatures[0].sig = unpadded.signatures[0].sig.trim_end_matches('=').to_string();
        assert!(unpadded
            .verified_payload(&key_a().verifying_key(), Path::new("e"))
            .is_ok());
    }

    #[test]
    fn swapped_payload_type_is_tampering() {
        let mut envelope = Envelope::sign_payload(PAYLOAD_TYPE, STATEMENT_BODY, &key_a());
        envelope.payload_type = "application/vnd.example.other+json".to_string();
        let err = envelope
            .verified_payload(&key_a().verifying_key(), Path::new("e.json"))
            .unwrap_err();
        assert!(matches!(err, AttestError::Tampered { .. }), "{err}");
    }

    #[test]
    fn any_signature_by_the_key_is_enough_and_keyids_are_only_hints() {
        let a = Envelope::sign_payload(PAYLOAD_TYPE, STATEMENT_BODY, &key_a());
        let b = Envelope::sign_payload(PAYLOAD_TYPE, STATEMENT_BODY, &key_b());
        let mut both = a.clone();
        both.signatures.push(b.signatures[0].clone());
        for signature in &mut both.signatures {
            signature.keyid.clear();
        }
        for key in [key_a(), key_b()] {
            assert!(both
                .verified_payload(&key.verifying_key(), Path::new("e"))
                .is_ok());
        }
        // A lying keyid does not make a good signature bad.
        let mut lying = a.clone();
        lying.signatures[0].keyid = "someone-else".to_string();
        assert!(lying
            .verified_payload(&key_a().verifying_key(), Path::new("e"))
            .is_ok());
    }

    #[test]
    fn failures_name_the_key_and_say_why() {
        let a = Envelope::sign_payload(PAYLOAD_TYPE, STATEMENT_BODY, &key_a());
        let b_key = key_b().verifying_key();
        let err = a.verified_payload(&b_key, Path::new("v.json")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AttestError::WrongKey { .. }), "{text}");
        assert!(text.contains(&keyid(&b_key)), "{text}");
        assert!(text.contains(&keyid(&key_a().verifying_key())), "{text}");
        assert!(text.starts_with("v.json: "), "{text}");

        let mut anonymous = a.clone();
        anonymous.signatures[0].keyid.clear();
        let err = anonymous
            .verified_payload(&b_key, Path::new("v.json"))
            .unwrap_err();
        assert!(matches!(err, AttestError::NotVerified { .. }), "{err}");

        let mut unsigned = a.clone();
        unsigned.signatures.clear();
        let err = unsigned
            .verified_payload(&b_key, Path::new("v.json"))
            .unwrap_err();
        assert!(matches!(err, AttestError::Unsigned { .. }), "{err}");

        let mut short = a.clone();
        short.signatures[0].sig = STANDARD.encode([1u8; 10]);
        let err = short
            .verified_payload(&key_a().verifying_key(), Path::new("v.json"))
            .unwrap_err();
        assert!(matches!(err, AttestError::Tampered { .. }), "{err}");

        let mut garbage = a;
        garbage.signatures[0].sig = "not base64!".to_string();
        let err = garbage
            .verified_payload(&key_a().verifying_key(), Path::new("v.json"))
            .unwrap_err();
        assert!(matches!(err, AttestError::Malformed { .. }), "{err}");
    }

    /// Splits a PAE back into its type and body, checking every separator and length.
    fn parse_pae(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        fn length(rest: &[u8]) -> Option<(usize, &[u8])> {
            let space = rest.iter().position(|&b| b == b' ')?;
            let digits = std::str::from_utf8(&rest[..space]).ok()?;
            if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
                return None;
            }
            Some((digits.parse().ok()?, &rest[space + 1..]))
        }
        let rest = bytes.strip_prefix(b"DSSEv1 ")?;
        let (type_len, rest) = length(rest)?;
        let payload_type = rest.get(..type_len)?.to_vec();
        let rest = rest[type_len..].strip_prefix(b" ")?;
        let (body_len, rest) = length(rest)?;
        (rest.len() == body_len).then(|| (payload_type, rest.to_vec()))
    }

    proptest! {
        #[test]
        fn pae_decodes_back_to_its_parts(
            payload_type in proptest::collection::vec(any::<u8>(), 0..80),
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let encoded = pae(&payload_type, &body);
            prop_assert_eq!(parse_pae(&encoded), Some((payload_type, body)));
        }

        #[test]
        fn pae_is_injective(
            a in (proptest::collection::vec(any::<u8>(), 0..20), proptest::collection::vec(any::<u8>(), 0..20)),
            b in (proptest::collection::vec(any::<u8>(), 0..20), proptest::collection::vec(any::<u8>(), 0..20)),
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(pae(&a.0, &a.1), pae(&b.0, &b.1));
        }

        #[test]
        fn sign_then_verify_gives_the_payload_back(
            seed in any::<[u8; 32]>(),
            payload_type in "[ -~]{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let key = SigningKey::from_bytes(&seed);
            let envelope = Envelope::sign_payload(&payload_type, &body, &key);
            let json = envelope.to_json();
            let back: Envelope = serde_json::from_str(&json).unwrap();
            let got = back.verified_payload(&key.verifying_key(), Path::new("p")).unwrap();
            prop_assert_eq!(got, body);
        }

        #[test]
        fn any_flipped_payload_bit_is_caught(
            seed in any::<[u8; 32]>(),
            body in proptest::collection::vec(any::<u8>(), 1..300),
            index in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = SigningKey::from_bytes(&seed);
            let mut envelope = Envelope::sign_payload(PAYLOAD_TYPE, &body, &key);
            let mut altered = body.clone();
            altered[index.index(body.len())] ^= 1 << bit;
            envelope.payload = STANDARD.encode(&altered);
            let err = envelope.verified_payload(&key.verifying_key(), Path::new("p")).unwrap_err();
            prop_assert!(matches!(err, AttestError::Tampered { .. }), "{}", err);
        }
    }
}
