use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeySize, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey};
use aws_lc_sys as ffi;
use benchkit::{bench, iters_from_env};
use std::time::Instant;

fn main() {
    let n = iters_from_env(5000);
    let rng = SystemRandom::new();
    let keygen_n: usize = std::env::var("KEYGEN").ok().and_then(|s| s.parse().ok()).unwrap_or(20);

    // ---------- raw aws-lc-sys, 1024-bit (the safe aws-lc-rs API has no 1024-bit keys) ----------
    // SAFETY: a measurement tool, not product code (Passage uses the safe `openssl`
    // API). Every pointer passed to AWS-LC comes from its own constructors in this
    // block and is checked for success (assert_eq! on the return codes) before use;
    // buffers passed for output are sized RSA_size(rsa) bytes as the API requires;
    // each object is freed exactly once, at the end of the block.
    unsafe {
        let e = ffi::BN_new();
        assert_eq!(ffi::BN_set_word(e, 65537), 1);
        let mut kg = Vec::new();
        let mut rsa: *mut ffi::RSA = std::ptr::null_mut();
        for _ in 0..keygen_n {
            if !rsa.is_null() {
                ffi::RSA_free(rsa);
            }
            rsa = ffi::RSA_new();
            let t = Instant::now();
            let ok = ffi::RSA_generate_key_ex(rsa, 1024, e, std::ptr::null_mut());
            kg.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(ok, 1, "RSA_generate_key_ex(1024) failed");
        }
        kg.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "aws-lc-sys: RSA_generate_key_ex(1024) x{keygen_n}: median={:.1}ms min={:.1}ms max={:.1}ms",
            kg[kg.len() / 2], kg[0], kg[kg.len() - 1]
        );
        let mut secret = [0u8; 16];
        rng.fill(&mut secret).unwrap();
        let mut ct = [0u8; 128];
        let r = ffi::RSA_public_encrypt(16, secret.as_ptr(), ct.as_mut_ptr(), rsa, ffi::RSA_PKCS1_PADDING as i32);
        assert_eq!(r, 128);
        let mut out = [0u8; 128];
        let r = ffi::RSA_private_decrypt(128, ct.as_ptr(), out.as_mut_ptr(), rsa, ffi::RSA_PKCS1_PADDING as i32);
        assert_eq!(r, 16);
        assert_eq!(&out[..16], &secret);
        println!("aws-lc-sys: correctness OK (1024-bit, 16-byte secret round-trip)");
        let mut bad = [0u8; 128];
        rng.fill(&mut bad).unwrap();
        bad[0] = 0;
        let r = ffi::RSA_private_decrypt(128, bad.as_ptr(), out.as_mut_ptr(), rsa, ffi::RSA_PKCS1_PADDING as i32);
        println!("aws-lc-sys: bad padding -> return {r} ({})", if r < 0 { "explicit error" } else { "returned a message: implicit rejection" });
        let rsa_p = rsa as usize;
        bench("aws-lc-sys RSA_private_decrypt 1024 PKCS1", n, || {
            let rsa = rsa_p as *mut ffi::RSA;
            let r = ffi::RSA_private_decrypt(128, std::hint::black_box(ct.as_ptr()), out.as_mut_ptr(), rsa, ffi::RSA_PKCS1_PADDING as i32);
            assert_eq!(std::hint::black_box(r), 16);
        });
        let mut raw = [0u8; 128];
        let r = ffi::RSA_private_decrypt(128, ct.as_ptr(), raw.as_mut_ptr(), rsa, ffi::RSA_NO_PADDING as i32);
        assert!(r == 128 && raw[0] == 0 && raw[1] == 2 && raw[112..] == secret);
        bench("aws-lc-sys RSA_private_decrypt 1024 NO_PADDING (raw)", n, || {
            let rsa = rsa_p as *mut ffi::RSA;
            let r = ffi::RSA_private_decrypt(128, std::hint::black_box(ct.as_ptr()), raw.as_mut_ptr(), rsa, ffi::RSA_NO_PADDING as i32);
            assert_eq!(std::hint::black_box(r), 128);
        });
        bench("aws-lc-sys RSA_private_decrypt 1024 bad padding", n, || {
            let rsa = rsa_p as *mut ffi::RSA;
            std::hint::black_box(ffi::RSA_private_decrypt(128, std::hint::black_box(bad.as_ptr()), out.as_mut_ptr(), rsa, ffi::RSA_PKCS1_PADDING as i32));
        });
        ffi::RSA_free(rsa);
        ffi::BN_free(e);
    }

    // ---------- safe aws-lc-rs API: 2048 is the smallest KeySize ----------
    let t = Instant::now();
    let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    println!("aws-lc-rs: PrivateDecryptingKey::generate(Rsa2048) took {:.1}ms (1 sample)", t.elapsed().as_secs_f64() * 1e3);
    let public = Pkcs1PublicEncryptingKey::new(key.public_key()).unwrap();
    let dkey = Pkcs1PrivateDecryptingKey::new(key).unwrap();
    let mut secret = [0u8; 16];
    rng.fill(&mut secret).unwrap();
    let mut ct = vec![0u8; public.ciphertext_size()];
    let ct = public.encrypt(&secret, &mut ct).unwrap().to_vec();
    let mut out = vec![0u8; dkey.min_output_size()];
    assert_eq!(dkey.decrypt(&ct, &mut out).unwrap(), &secret);
    println!("aws-lc-rs: correctness OK (2048-bit safe API)");
    let mut bad = vec![0u8; ct.len()];
    rng.fill(&mut bad).unwrap();
    bad[0] = 0;
    println!("aws-lc-rs: bad padding -> {:?}", dkey.decrypt(&bad, &mut out).map(|m| m.len()));
    bench("aws-lc-rs Pkcs1PrivateDecryptingKey 2048 (reference)", n / 5, || {
        std::hint::black_box(dkey.decrypt(std::hint::black_box(&ct), &mut out).unwrap().len());
    });
}
