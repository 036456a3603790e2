use benchkit::{bench, iters_from_env};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::traits::PrivateKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use std::time::Instant;

fn main() {
    let n = iters_from_env(5000);
    let variant = env!("CARGO_PKG_NAME");

    // --- key generation, median of 20 ---
    let keygen_n: usize = std::env::var("KEYGEN").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut kg = Vec::new();
    let mut key = None;
    for _ in 0..keygen_n {
        let t = Instant::now();
        let k = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        kg.push(t.elapsed().as_secs_f64() * 1e3);
        key = Some(k);
    }
    kg.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{variant}: RsaPrivateKey::new(1024) x{keygen_n}: median={:.1}ms min={:.1}ms max={:.1}ms",
        kg[kg.len() / 2], kg[0], kg[kg.len() - 1]
    );
    let key = key.unwrap();
    println!(
        "{variant}: CRT precomputed after new(): dp={} dq={} qinv={}",
        key.dp().is_some(), key.dq().is_some(), key.qinv().is_some()
    );
    let public = RsaPublicKey::from(&key);

    // --- correctness ---
    let mut secret = [0u8; 16];
    OsRng.fill_bytes(&mut secret);
    let ct = public.encrypt(&mut OsRng, Pkcs1v15Encrypt, &secret).unwrap();
    assert_eq!(ct.len(), 128);
    let pt = key.decrypt(Pkcs1v15Encrypt, &ct).unwrap();
    assert_eq!(pt, secret);
    let pt = key.decrypt_blinded(&mut OsRng, Pkcs1v15Encrypt, &ct).unwrap();
    assert_eq!(pt, secret);
    let token = [1u8, 2, 3, 4];
    let ct_token = public.encrypt(&mut OsRng, Pkcs1v15Encrypt, &token).unwrap();
    assert_eq!(key.decrypt(Pkcs1v15Encrypt, &ct_token).unwrap(), token);
    println!("{variant}: correctness OK (16-byte secret and 4-byte token round-trip)");

    // --- bad padding behaviour: random ciphertext below n ---
    let mut bad = [0u8; 128];
    OsRng.fill_bytes(&mut bad);
    bad[0] = 0;
    match key.decrypt(Pkcs1v15Encrypt, &bad) {
        Ok(m) => println!("{variant}: bad padding -> Ok({} bytes) (implicit rejection)", m.len()),
        Err(e) => println!("{variant}: bad padding -> Err({e}) (explicit rejection)"),
    }

    // --- timing ---
    bench(&format!("{variant} decrypt (no rng, unblinded; Passage today)"), n, || {
        std::hint::black_box(key.decrypt(Pkcs1v15Encrypt, std::hint::black_box(&ct)).unwrap());
    });
    bench(&format!("{variant} decrypt_blinded(OsRng)"), n, || {
        std::hint::black_box(
            key.decrypt_blinded(&mut OsRng, Pkcs1v15Encrypt, std::hint::black_box(&ct)).unwrap(),
        );
    });
    bench(&format!("{variant} decrypt bad padding (unblinded)"), n, || {
        let _ = std::hint::black_box(key.decrypt(Pkcs1v15Encrypt, std::hint::black_box(&bad)));
    });
    let mut nocrt = key.clone();
    nocrt.clear_precomputed();
    bench(&format!("{variant} decrypt without CRT (clear_precomputed)"), n / 5, || {
        std::hint::black_box(nocrt.decrypt(Pkcs1v15Encrypt, std::hint::black_box(&ct)).unwrap());
    });
}
