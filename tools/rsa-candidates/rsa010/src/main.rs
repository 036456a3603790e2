use benchkit::{bench, iters_from_env};
use rand::RngExt;
use rsa::traits::{PaddingScheme, PrivateKeyParts};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use std::time::Instant;

fn main() {
    let n = iters_from_env(5000);
    let variant = "rsa010";
    let mut rng = rand::rng();

    let keygen_n: usize = std::env::var("KEYGEN").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut kg = Vec::new();
    let mut key = None;
    for _ in 0..keygen_n {
        let t = Instant::now();
        let k = RsaPrivateKey::new(&mut rng, 1024).unwrap();
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

    let secret: [u8; 16] = rng.random();
    let ct = public.encrypt(&mut rng, Pkcs1v15Encrypt, &secret).unwrap();
    assert_eq!(ct.len(), 128);
    assert_eq!(key.decrypt(Pkcs1v15Encrypt, &ct).unwrap(), secret);
    assert_eq!(key.decrypt_blinded(&mut rng, Pkcs1v15Encrypt, &ct).unwrap(), secret);
    let unblinded = |c: &[u8]| Pkcs1v15Encrypt.decrypt(Option::<&mut rand::rngs::ThreadRng>::None, &key, c);
    assert_eq!(unblinded(&ct).unwrap(), secret);
    let token = [1u8, 2, 3, 4];
    let ct_token = public.encrypt(&mut rng, Pkcs1v15Encrypt, &token).unwrap();
    assert_eq!(key.decrypt(Pkcs1v15Encrypt, &ct_token).unwrap(), token);
    println!("{variant}: correctness OK (16-byte secret and 4-byte token round-trip)");

    let mut bad: [u8; 128] = rng.random();
    bad[0] = 0;
    match key.decrypt(Pkcs1v15Encrypt, &bad) {
        Ok(m) => {
            let again = key.decrypt(Pkcs1v15Encrypt, &bad).unwrap();
            println!(
                "{variant}: bad padding -> Ok({} bytes) (implicit rejection; deterministic={})",
                m.len(),
                m == again
            )
        }
        Err(e) => println!("{variant}: bad padding -> Err({e}) (explicit rejection)"),
    }

    bench(&format!("{variant} decrypt() (default: blinded via SysRng)"), n, || {
        std::hint::black_box(key.decrypt(Pkcs1v15Encrypt, std::hint::black_box(&ct)).unwrap());
    });
    bench(&format!("{variant} decrypt_blinded(rand::rng())"), n, || {
        std::hint::black_box(
            key.decrypt_blinded(&mut rng, Pkcs1v15Encrypt, std::hint::black_box(&ct)).unwrap(),
        );
    });
    bench(&format!("{variant} unblinded (PaddingScheme::decrypt(None))"), n, || {
        std::hint::black_box(unblinded(std::hint::black_box(&ct)).unwrap());
    });
    bench(&format!("{variant} decrypt() bad padding"), n, || {
        let _ = std::hint::black_box(key.decrypt(Pkcs1v15Encrypt, std::hint::black_box(&bad)));
    });
}
