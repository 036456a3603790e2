//! Cost of the native hot paths one connection goes through: frame codec (plain,
//! compressed, encrypted), CFB8 throughput, the RSA decryption of an Encryption
//! Response, the session-server hash, and signing and verifying the auth cookie.
//!
//! Run with `make bench` or `cargo bench -p passage --bench protocol`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use passage::auth::ProfileProperty;
use passage::auth::cookie::{AuthCookie, CookieSecret, sign_auth_cookie, verify_auth_cookie};
use passage::crypto::{ServerKey, decrypt_login, server_hash};
use passage::protocol::codec::{Reader, put_string, put_u16, put_varint};
use passage::protocol::frame::{Decode, FrameReader, FrameWriter, frame_payload, split_id};
use passage::protocol::packets::handshake::Handshake;
use passage::protocol::packets::status::StatusResponse;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

/// Reads every frame of `wire` with `reader` (the slice never blocks, so one poll each).
fn read_all(rt: &tokio::runtime::Runtime, reader: &mut FrameReader, mut wire: &[u8]) -> usize {
    rt.block_on(async {
        let mut n = 0;
        while let Some(frame) = reader.next_frame(&mut wire).await.expect("valid frame") {
            n += frame.len();
        }
        n
    })
}

fn handshake_frame() -> Vec<u8> {
    let mut payload = Vec::new();
    put_varint(&mut payload, Handshake::ID);
    put_varint(&mut payload, 772);
    put_string(&mut payload, "play.example.com");
    put_u16(&mut payload, 25565);
    put_varint(&mut payload, 1);
    frame_payload(&payload)
}

/// A status JSON of realistic size: MOTD, players sample, no favicon.
fn status_json() -> String {
    let sample: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"name":"Player{i}","id":"00000000-0000-0000-0000-00000000000{}"}}"#,
                i % 10
            )
        })
        .collect();
    format!(
        r#"{{"version":{{"name":"1.21.8","protocol":772}},"players":{{"max":1000,"online":412,"sample":[{}]}},"description":{{"text":"A Passage network","color":"gold"}},"enforcesSecureChat":false}}"#,
        sample.join(",")
    )
}

fn codec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("codec");

    let handshake = handshake_frame();
    group.bench_function("handshake/read+decode", |b| {
        b.iter(|| {
            let mut reader = FrameReader::new(1024);
            let mut wire = handshake.as_slice();
            let frame = rt
                .block_on(reader.next_frame(&mut wire))
                .expect("frame")
                .expect("not eof");
            let (_, body) = split_id(&frame).expect("id");
            let mut r = Reader::new(body);
            let hs = Handshake::decode(&mut r).expect("decodes");
            r.finish("handshake").expect("exact");
            hs
        })
    });

    let response = StatusResponse {
        json: status_json(),
    };
    group.bench_function("status-response/encode", |b| {
        let mut writer = FrameWriter::new();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            writer.encode(&response, &mut out);
            out.len()
        })
    });

    // One 4 KiB packet (a typical plugin message or registry chunk) through each layer.
    let body = vec![0x5au8; 4096];
    for (name, compress, encrypt) in [
        ("plain", false, false),
        ("compressed", true, false),
        ("encrypted", false, true),
        ("compressed+encrypted", true, true),
    ] {
        let key = [7u8; 16];
        let mut writer = FrameWriter::new();
        if compress {
            writer.enable_compression(256);
        }
        if encrypt {
            writer.enable_encryption(key);
        }
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("write-4KiB", name), &(), |b, ()| {
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                writer.encode_raw(0x01, &body, &mut out);
                out.len()
            })
        });

        // Reading needs a fresh cipher state per iteration, so encode a fresh wire each time
        // outside the measurement and read it back inside.
        group.bench_with_input(BenchmarkId::new("read-4KiB", name), &(), |b, ()| {
            b.iter_batched(
                || {
                    let mut writer = FrameWriter::new();
                    if compress {
                        writer.enable_compression(256);
                    }
                    if encrypt {
                        writer.enable_encryption(key);
                    }
                    let mut wire = Vec::new();
                    writer.encode_raw(0x01, &body, &mut wire);
                    let mut reader = FrameReader::new(1 << 20);
                    if compress {
                        reader.enable_compression(256);
                    }
                    if encrypt {
                        reader.enable_encryption(key);
                    }
                    (reader, wire)
                },
                |(mut reader, wire)| read_all(&rt, &mut reader, &wire),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // Raw CFB8 speed: AES-128 once per byte is what bounds encrypted traffic.
    let mut group = c.benchmark_group("cfb8");
    let chunk = vec![0u8; 64 * 1024];
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("encrypt-64KiB", |b| {
        let mut writer = FrameWriter::new();
        writer.enable_encryption([3u8; 16]);
        let mut out = Vec::with_capacity(chunk.len() + 8);
        b.iter(|| {
            out.clear();
            writer.encode_raw(0x02, &chunk, &mut out);
            out.len()
        })
    });
    group.finish();
}

fn rsa_and_hash(c: &mut Criterion) {
    let key = ServerKey::generate().expect("key");
    let public = RsaPublicKey::from_public_key_der(key.public_der()).expect("public key");
    let mut rng = rand::thread_rng();
    let secret = [0x42u8; 16];
    let token = [1u8, 2, 3, 4];
    let enc_secret = public
        .encrypt(&mut rng, Pkcs1v15Encrypt, &secret)
        .expect("encrypt");
    let enc_token = public
        .encrypt(&mut rng, Pkcs1v15Encrypt, &token)
        .expect("encrypt");
    let garbage = vec![0x13u8; 128];

    let mut group = c.benchmark_group("rsa");
    group.bench_function("decrypt-one-field", |b| {
        b.iter(|| key.decrypt(&enc_secret).expect("decrypts"))
    });
    group.bench_function("encryption-response/valid", |b| {
        b.iter(|| decrypt_login(&key, &enc_secret, &enc_token, &token).expect("accepted"))
    });
    group.bench_function("encryption-response/garbage", |b| {
        b.iter(|| decrypt_login(&key, &garbage, &garbage, &token).expect_err("rejected"))
    });
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("generate-1024", |b| {
        b.iter(|| ServerKey::generate().expect("key"))
    });
    group.finish();

    c.bench_function("server-hash", |b| {
        b.iter(|| server_hash("", &secret, key.public_der()))
    });
}

fn cookies(c: &mut Criterion) {
    let secret = CookieSecret::from_bytes(b"bench secret: 32 bytes of entropy".to_vec());
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let cookie = AuthCookie {
        timestamp: 1_800_000_000,
        client_addr: "203.0.113.7:51234".into(),
        user_name: "Notch".into(),
        user_id: "069a79f4-44e9-4726-a5be-fca90e38aaf5".into(),
        target: "lobby-1".into(),
        // A real textures property: ~600 bytes of base64 value and ~700 of signature.
        profile_properties: vec![ProfileProperty {
            name: "textures".into(),
            value: "e".repeat(600),
            signature: Some("s".repeat(684)),
        }],
        extra: serde_json::Map::new(),
    };
    let signed = sign_auth_cookie(&secret, &cookie).expect("signs");
    let mut forged = signed.clone();
    forged[0] ^= 1;

    let mut group = c.benchmark_group("auth-cookie");
    group.throughput(Throughput::Bytes(signed.len() as u64));
    group.bench_function("sign", |b| {
        b.iter(|| sign_auth_cookie(&secret, &cookie).expect("signs"))
    });
    group.bench_function("verify/valid", |b| {
        b.iter(|| verify_auth_cookie(&secret, &signed, 1_800_000_100, 21_600, ip).expect("valid"))
    });
    group.bench_function("verify/forged", |b| {
        b.iter(|| {
            verify_auth_cookie(&secret, &forged, 1_800_000_100, 21_600, ip).expect_err("forged")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec, rsa_and_hash, cookies
}
criterion_main!(benches);
