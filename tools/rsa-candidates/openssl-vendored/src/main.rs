use benchkit::{bench, iters_from_env};
use openssl::rsa::{Padding, Rsa};
use std::time::Instant;

fn main() {
    let n = iters_from_env(5000);
    let variant = env!("CARGO_PKG_NAME");
    println!("{variant}: linked against {}", openssl::version::version());
    let keygen_n: usize = std::env::var("KEYGEN").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut kg = Vec::new();
    let mut key = None;
    for _ in 0..keygen_n {
        let t = Instant::now();
        let k = Rsa::generate(1024).unwrap();
        kg.push(t.elapsed().as_secs_f64() * 1e3);
        key = Some(k);
    }
    kg.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{variant}: Rsa::generate(1024) x{keygen_n}: median={:.1}ms min={:.1}ms max={:.1}ms",
        kg[kg.len() / 2], kg[0], kg[kg.len() - 1]
    );
    let key = key.unwrap();
    let mut secret = [0u8; 16];
    openssl::rand::rand_bytes(&mut secret).unwrap();
    let mut ct = [0u8; 128];
    assert_eq!(key.public_encrypt(&secret, &mut ct, Padding::PKCS1).unwrap(), 128);
    let mut out = [0u8; 128];
    let len = key.private_decrypt(&ct, &mut out, Padding::PKCS1).unwrap();
    assert_eq!(&out[..len], &secret);
    println!("{variant}: correctness OK (16-byte secret round-trip)");
    let mut bad = [0u8; 128];
    openssl::rand::rand_bytes(&mut bad).unwrap();
    bad[0] = 0;
    match key.private_decrypt(&bad, &mut out, Padding::PKCS1) {
        Ok(l) => {
            let first = out[..l].to_vec();
            let l2 = key.private_decrypt(&bad, &mut out, Padding::PKCS1).unwrap();
            println!("{variant}: bad padding -> Ok({l} bytes) (implicit rejection; deterministic={})", first == out[..l2])
        }
        Err(e) => println!("{variant}: bad padding -> Err (explicit rejection): {e}"),
    }
    bench(&format!("{variant} private_decrypt PKCS1"), n, || {
        let l = key.private_decrypt(std::hint::black_box(&ct), &mut out, Padding::PKCS1).unwrap();
        assert_eq!(std::hint::black_box(l), 16);
    });
    // Raw private operation (no padding check in C): the caller would strip PKCS#1 v1.5
    // in constant time itself (e.g. with `subtle`), the mitigation AWS-LC/BoringSSL recommend.
    let mut raw = [0u8; 128];
    assert_eq!(key.private_decrypt(&ct, &mut raw, Padding::NONE).unwrap(), 128);
    assert!(raw[0] == 0 && raw[1] == 2 && raw[111] == 0 && raw[112..] == secret);
    bench(&format!("{variant} private_decrypt NO_PADDING (raw)"), n, || {
        let l = key.private_decrypt(std::hint::black_box(&ct), &mut raw, Padding::NONE).unwrap();
        assert_eq!(std::hint::black_box(l), 128);
    });
    bench(&format!("{variant} private_decrypt bad padding"), n, || {
        let _ = std::hint::black_box(key.private_decrypt(std::hint::black_box(&bad), &mut out, Padding::PKCS1));
    });
}
