//! Login cryptography: the server's RSA key, Encryption Response decryption and the session-server hash.

use openssl::pkey::Private;
use openssl::rsa::{Padding, Rsa};
use rand::RngCore;
use rand::rngs::OsRng;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The key size the vanilla client expects (it accepts others, but every server uses 1024).
const KEY_BITS: u32 = 1024;

/// Length of the AES-128 shared secret the client must send.
pub const SHARED_SECRET_LEN: usize = 16;

/// Length of the verify token we send in the Encryption Request.
pub const VERIFY_TOKEN_LEN: usize = 4;

/// Errors of a single RSA decryption (internal detail: login code should use [`decrypt_login`]).
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is {got} bytes, expected {expected}")]
    Length { expected: usize, got: usize },
    #[error("RSA decryption failed")]
    Decrypt,
}

/// The one error [`decrypt_login`] returns.
///
/// Deliberately opaque: telling a client *which* step failed (bad padding, wrong
/// length, wrong token) would hand an attacker the padding oracle that
/// RUSTSEC-2023-0071 / the Marvin attack needs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginCryptoError {
    #[error("encryption response rejected")]
    Rejected,
}

/// The server's RSA-1024 key pair, generated once at start-up and shared by all logins.
///
/// The private operation is OpenSSL's (statically linked, `openssl-src`): constant
/// time and blinded, about 100 µs here, where the `rsa` crate 0.9 took 300-500 µs
/// without blinding (RUSTSEC-2023-0071; measurements in BENCHMARKS.md). OpenSSL 3.2+
/// also applies *implicit rejection* to PKCS#1 v1.5: a ciphertext with bad padding
/// decrypts to a deterministic random-looking message instead of an error, so even
/// the timing of our error path carries no padding information.
pub struct ServerKey {
    private: Rsa<Private>,
    /// Cached because it is sent in every Encryption Request and hashed in every session check.
    public_der: Vec<u8>,
}

impl std::fmt::Debug for ServerKey {
    // Never print key material, even by accident through a `{:?}` in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("bits", &self.private.size().saturating_mul(8))
            .finish_non_exhaustive()
    }
}

impl ServerKey {
    /// Generates a fresh key pair (OpenSSL's random source, seeded by the OS).
    pub fn generate() -> anyhow::Result<ServerKey> {
        let private = Rsa::generate(KEY_BITS)?;
        // X.509 SubjectPublicKeyInfo, as the Encryption Request carries it.
        let public_der = private.public_key_to_der()?;
        Ok(ServerKey {
            private,
            public_der,
        })
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER, as the Encryption Request carries it.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    /// PKCS#1 v1.5 decryption of one Encryption Response field.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        // A well-formed ciphertext is exactly the modulus size; anything else is
        // garbage and need not reach the RSA code at all.
        let expected = self.private.size() as usize;
        if ciphertext.len() != expected {
            return Err(CryptoError::Length {
                expected,
                got: ciphertext.len(),
            });
        }
        let mut plain = vec![0u8; expected];
        let len = self
            .private
            .private_decrypt(ciphertext, &mut plain, Padding::PKCS1)
            .map_err(|_| CryptoError::Decrypt)?;
        plain.truncate(len);
        Ok(plain)
    }
}

pub fn random_verify_token() -> [u8; VERIFY_TOKEN_LEN] {
    let mut token = [0u8; VERIFY_TOKEN_LEN];
    OsRng.fill_bytes(&mut token);
    token
}

/// Decrypts an Encryption Response and returns the 16-byte shared secret.
///
/// Defence in depth against padding oracles (RUSTSEC-2023-0071, the Marvin attack),
/// on top of OpenSSL's constant-time, blinded, implicitly rejecting decryption:
/// this function gives an attacker as little signal as possible. Both fields are always
/// decrypted, even when the first one already failed, so the amount of work does
/// not reveal which field was bad; every failure (length, padding, secret size,
/// token mismatch) collapses into the single [`LoginCryptoError::Rejected`], whose
/// text says nothing about the step. Callers must keep it that way: answer every
/// rejection identically and never log the decrypted bytes.
pub fn decrypt_login(
    key: &ServerKey,
    encrypted_secret: &[u8],
    encrypted_token: &[u8],
    expected_token: &[u8],
) -> Result<[u8; SHARED_SECRET_LEN], LoginCryptoError> {
    // Both decryptions run unconditionally: no early return between them.
    let secret = key.decrypt(encrypted_secret);
    let token = key.decrypt(encrypted_token);

    let token_ok = match &token {
        // `ct_eq` on slices is constant-time for equal lengths and false otherwise.
        Ok(token) => bool::from(token.as_slice().ct_eq(expected_token)),
        Err(_) => false,
    };
    let secret: Option<[u8; SHARED_SECRET_LEN]> = match secret {
        Ok(bytes) => bytes.as_slice().try_into().ok(),
        Err(_) => None,
    };
    match (secret, token_ok) {
        (Some(secret), true) => Ok(secret),
        _ => Err(LoginCryptoError::Rejected),
    }
}

/// The session-server hash ("serverId" of `hasJoined`): SHA-1 over
/// `server_id || shared_secret || public_key_der`, printed like Java's
/// `new BigInteger(digest).toString(16)`.
pub fn server_hash(server_id: &str, shared_secret: &[u8], public_key_der: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(server_id.as_bytes());
    sha.update(shared_secret);
    sha.update(public_key_der);
    let mut digest: [u8; 20] = sha.finalize().into();
    signed_hex(&mut digest)
}

/// Formats a big-endian two's-complement integer as Java's `BigInteger.toString(16)`
/// does: minimal lower-case hex of the magnitude, `-` in front when negative.
fn signed_hex(bytes: &mut [u8]) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    if negative {
        // Magnitude of a negative number: invert every bit, then add one,
        // carrying from the least significant (last) byte upwards.
        let mut carry = true;
        for byte in bytes.iter_mut().rev() {
            *byte = !*byte;
            if carry {
                let (sum, overflow) = byte.overflowing_add(1);
                *byte = sum;
                carry = overflow;
            }
        }
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let trimmed = hex.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    if negative {
        format!("-{digits}")
    } else {
        digits.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
    use std::sync::OnceLock;

    /// RSA generation takes seconds unoptimised: one key for the whole module.
    fn key() -> &'static ServerKey {
        static KEY: OnceLock<ServerKey> = OnceLock::new();
        KEY.get_or_init(|| ServerKey::generate().expect("key generation"))
    }

    /// What the client does: encrypt with the public key taken from the DER, here
    /// with another implementation (RustCrypto's) than the server's.
    fn client_encrypt(data: &[u8]) -> Vec<u8> {
        let public = RsaPublicKey::from_public_key_der(key().public_der()).expect("parse DER");
        public
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, data)
            .expect("encrypt")
    }

    #[test]
    fn hash_vectors_from_notes() {
        assert_eq!(
            server_hash("Notch", &[], &[]),
            "4ed1f46bbe04bc756bcb17c0c7ce3e4632f06a48"
        );
        assert_eq!(
            server_hash("jeb_", &[], &[]),
            "-7c9d5b0044c130109a5d7b5fb5c317c02b4e28c1"
        );
        assert_eq!(
            server_hash("simon", &[], &[]),
            "88e16a1019277b15d58faf0541e11910eb756f6"
        );
    }

    #[test]
    fn hash_concatenates_all_three_parts() {
        // Splitting the same bytes differently must not change the hash.
        assert_eq!(
            server_hash("No", b"tc", b"h"),
            server_hash("Notch", &[], &[])
        );
    }

    #[test]
    fn signed_hex_edge_cases() {
        assert_eq!(signed_hex(&mut [0u8; 20]), "0");
        assert_eq!(signed_hex(&mut [0xff; 20]), "-1");
        let mut min = [0u8; 20];
        min[0] = 0x80;
        assert_eq!(signed_hex(&mut min), format!("-8{}", "0".repeat(39)));
        let mut one = [0u8; 20];
        one[19] = 1;
        assert_eq!(signed_hex(&mut one), "1");
        // Carry across bytes: -256 is ff..ff00.
        let mut m256 = [0xffu8; 20];
        m256[19] = 0;
        assert_eq!(signed_hex(&mut m256), "-100");
    }

    #[test]
    fn public_der_is_spki_with_1024_bit_modulus() {
        let public = RsaPublicKey::from_public_key_der(key().public_der()).expect("parse DER");
        assert_eq!(public.n().bits(), 1024);
        assert_eq!(public.size(), 128);
    }

    #[test]
    fn login_round_trip() {
        let secret = *b"0123456789abcdef";
        let token = random_verify_token();
        let got = decrypt_login(
            key(),
            &client_encrypt(&secret),
            &client_encrypt(&token),
            &token,
        );
        assert_eq!(got, Ok(secret));
    }

    #[test]
    fn wrong_token_is_rejected() {
        let token = [1, 2, 3, 4];
        let got = decrypt_login(
            key(),
            &client_encrypt(b"0123456789abcdef"),
            &client_encrypt(&[1, 2, 3, 5]),
            &token,
        );
        assert_eq!(got, Err(LoginCryptoError::Rejected));
        // A token of another length must not match either.
        let got = decrypt_login(
            key(),
            &client_encrypt(b"0123456789abcdef"),
            &client_encrypt(&[1, 2, 3]),
            &token,
        );
        assert_eq!(got, Err(LoginCryptoError::Rejected));
    }

    #[test]
    fn short_secret_is_rejected() {
        let token = [9, 9, 9, 9];
        let got = decrypt_login(
            key(),
            &client_encrypt(&[7u8; 15]),
            &client_encrypt(&token),
            &token,
        );
        assert_eq!(got, Err(LoginCryptoError::Rejected));
    }

    #[test]
    fn garbage_ciphertext_is_rejected() {
        let token = [9, 9, 9, 9];
        let good_token = client_encrypt(&token);
        let good_secret = client_encrypt(&[7u8; 16]);

        let mut wrong_len = vec![0u8; 127];
        OsRng.fill_bytes(&mut wrong_len);
        let mut random_128 = vec![0u8; 128];
        OsRng.fill_bytes(&mut random_128);

        for bad in [&wrong_len[..], &[][..], &[0u8; 129][..]] {
            assert_eq!(
                decrypt_login(key(), bad, &good_token, &token),
                Err(LoginCryptoError::Rejected)
            );
            assert_eq!(
                decrypt_login(key(), &good_secret, bad, &token),
                Err(LoginCryptoError::Rejected)
            );
        }
        // A random block of the right length: with implicit rejection, OpenSSL
        // "decrypts" it to a synthetic message of pseudo-random length instead of
        // failing (that is what makes garbage cost the same as a valid block). As the
        // verify token it never matches; as the shared secret it is rejected, or, when
        // the synthetic message happens to be 16 bytes, it is some secret the client
        // does not know, so the login fails at its first encrypted packet.
        for _ in 0..200 {
            OsRng.fill_bytes(&mut random_128);
            assert_eq!(
                decrypt_login(key(), &good_secret, &random_128, &token),
                Err(LoginCryptoError::Rejected)
            );
            match decrypt_login(key(), &random_128, &good_token, &token) {
                Err(LoginCryptoError::Rejected) => {}
                Ok(secret) => assert_ne!(secret, [7u8; 16]),
            }
        }
        assert!(matches!(
            key().decrypt(&wrong_len),
            Err(CryptoError::Length {
                expected: 128,
                got: 127
            })
        ));
    }

    #[test]
    fn rejection_text_is_opaque() {
        assert_eq!(
            LoginCryptoError::Rejected.to_string(),
            "encryption response rejected"
        );
    }

    #[test]
    fn debug_hides_key_material() {
        let shown = format!("{:?}", key());
        assert_eq!(shown, "ServerKey { bits: 1024, .. }");
    }

    #[test]
    fn verify_tokens_differ() {
        // 2^-32 chance of a false failure per pair; three draws make it negligible.
        let a = random_verify_token();
        let b = random_verify_token();
        let c = random_verify_token();
        assert!(a != b || b != c);
    }
}
