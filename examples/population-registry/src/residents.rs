//! Test residents: generated, written to a directory, read back.

use std::path::Path;

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

/// Where the per-resident live-capture templates go, under the residents directory.
pub const CAPTURES_DIR: &str = "captures";
/// The registry's record of every resident.
const RESIDENTS_FILE: &str = "residents.json";
/// Dimensions of a face template (an embedding vector).
const DIMENSIONS: usize = 128;

/// A resident as the registry holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    /// Written as on the card: `A123456(3)`.
    pub hkid: String,
    pub english_name: String,
    pub chinese_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `M` or `F`.
    pub gender: String,
    /// The enrolled face template (unit length).
    pub face_template: Vec<f32>,
}

/// A live capture, as a phone's capture component would make it (the `--capture` file of
/// `eid-wallet prove`): the template, the liveness verdict, and the capture key that signs
/// them over eid's nonce.
pub use eid_proto::capture::CaptureFile as Capture;

/// The sandbox's capture root, PEM, under the residents directory: what eid's `[proofing]
/// capture_roots` names (and what `eid-server --dev` reads from `data/registry/`).
pub const CAPTURE_ROOT_FILE: &str = "capture-root.pem";

/// A capture root of the sandbox's own and one capture key under it, standing in for a capture
/// component's maker and the key inside a phone's component.
fn capture_authority() -> anyhow::Result<(String, eid_proto::capture::CaptureKey)> {
    use base64::Engine as _;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let named = |common_name: &str| -> anyhow::Result<CertificateParams> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CountryName, "HK");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "eid sandbox");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        Ok(params)
    };
    let mut params = named("eid sandbox capture root")?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root =
        CertifiedIssuer::self_signed(params, KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)?;
    let mut params = named("eid sandbox capture key")?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let certificate = params.signed_by(&key, &root)?;
    let capture_key = eid_proto::capture::CaptureKey {
        key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.serialize_der()),
        x5c: vec![base64::engine::general_purpose::STANDARD.encode(certificate.der())],
    };
    // PEM by hand (RFC 7468: base64 in lines of 64), without rcgen's `pem` feature.
    let body = base64::engine::general_purpose::STANDARD.encode(root.der());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    let root_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    Ok((root_pem, capture_key))
}

const SURNAMES: [(&str, &str); 16] = [
    ("CHAN", "陳"),
    ("LEE", "李"),
    ("WONG", "黃"),
    ("CHEUNG", "張"),
    ("LAU", "劉"),
    ("LAM", "林"),
    ("HO", "何"),
    ("NG", "吳"),
    ("LEUNG", "梁"),
    ("CHOW", "周"),
    ("TSANG", "曾"),
    ("YEUNG", "楊"),
    ("CHU", "朱"),
    ("KWOK", "郭"),
    ("TANG", "鄧"),
    ("MAK", "麥"),
];

const GIVEN: [(&str, &str, &str); 16] = [
    ("Tai Man", "大文", "M"),
    ("Siu Ming", "小明", "M"),
    ("Ka Yan", "嘉欣", "F"),
    ("Mei Ling", "美玲", "F"),
    ("Chi Keung", "志強", "M"),
    ("Wing Sze", "詠詩", "F"),
    ("Kwok Wai", "國偉", "M"),
    ("Hoi Yee", "凱儀", "F"),
    ("Ka Ho", "家豪", "M"),
    ("Suk Yi", "淑儀", "F"),
    ("Chun Kit", "俊傑", "M"),
    ("Pui Shan", "佩珊", "F"),
    ("Wai Lun", "偉倫", "M"),
    ("Yuen Ting", "婉婷", "F"),
    ("Man Kit", "文傑", "M"),
    ("Sze Wan", "思韻", "F"),
];

/// The check digit of an HKID number's letters and digits (weights 9 to 2; a missing second
/// letter counts 36; A-Z count 10-35; the check digit makes the sum divisible by 11).
fn check_digit(letters: &str, digits: &str) -> char {
    let mut values: Vec<u32> = Vec::with_capacity(8);
    if letters.len() == 1 {
        values.push(36);
    }
    values.extend(letters.bytes().map(|b| u32::from(b - b'A') + 10));
    values.extend(digits.bytes().map(|b| u32::from(b - b'0')));
    let sum: u32 = values.iter().zip((2..=9).rev()).map(|(v, w)| v * w).sum();
    match (11 - sum % 11) % 11 {
        10 => 'A',
        d => char::from(b'0' + u8::try_from(d).unwrap_or(0)),
    }
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box-Muller.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Cosine similarity of two templates; 0 when their dimensions differ or one is zero.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na * nb)
}

/// Writes `count` residents to `dir` (deterministic for a `seed`), with a live capture per
/// resident under `captures/`, signed by a capture key under a new capture root
/// ([`CAPTURE_ROOT_FILE`]; the keys are not deterministic). Prints nothing; returns the
/// residents.
pub fn generate(dir: &Path, count: usize, seed: u64) -> anyhow::Result<Vec<Resident>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut residents: Vec<Resident> = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    while residents.len() < count {
        let two_letters = rng.random_range(0..10) == 0;
        let mut letters = String::new();
        for _ in 0..if two_letters { 2 } else { 1 } {
            letters.push(char::from(b'A' + rng.random_range(0..26u8)));
        }
        let digits = format!("{:06}", rng.random_range(0..1_000_000u32));
        if !seen.insert(format!("{letters}{digits}")) {
            continue;
        }
        let check = check_digit(&letters, &digits);
        let (surname, surname_zh) = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let (given, given_zh, gender) = GIVEN[rng.random_range(0..GIVEN.len())];
        let year = rng.random_range(1940..2008);
        let month = rng.random_range(1..=12u32);
        let day = rng.random_range(1..=28u32);
        let template = unit((0..DIMENSIONS).map(|_| gaussian(&mut rng)).collect());
        residents.push(Resident {
            hkid: format!("{letters}{digits}({check})"),
            english_name: format!("{surname} {given}"),
            chinese_name: format!("{surname_zh}{given_zh}"),
            date_of_birth: format!("{year:04}-{month:02}-{day:02}"),
            gender: gender.to_owned(),
            face_template: template,
        });
    }
    let captures = dir.join(CAPTURES_DIR);
    std::fs::create_dir_all(&captures)
        .with_context(|| format!("creating {}", captures.display()))?;
    let (root_pem, capture_key) = capture_authority()?;
    let root_path = dir.join(CAPTURE_ROOT_FILE);
    std::fs::write(&root_path, root_pem)
        .with_context(|| format!("writing {}", root_path.display()))?;
    for r in &residents {
        // A live capture of the same face: the enrolled template plus noise, about 0.95
        // similar to it (and about 0 to anybody else's).
        let noisy: Vec<f32> = r
            .face_template
            .iter()
            .map(|x| x + 0.03 * gaussian(&mut rng))
            .collect();
        let capture = Capture {
            hkid: r.hkid.clone(),
            face_template: unit(noisy),
            liveness: eid_proto::capture::LIVE.to_owned(),
            capture_key: Some(capture_key.clone()),
        };
        let path = captures.join(format!("{}.json", file_stem(&r.hkid)));
        std::fs::write(&path, serde_json::to_vec_pretty(&capture)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let path = dir.join(RESIDENTS_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&residents)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(residents)
}

/// `A123456(3)` -> `A1234563`: the capture file's name.
pub fn file_stem(hkid: &str) -> String {
    hkid.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// Reads the residents written by [`generate`].
pub fn load_residents(dir: &Path) -> anyhow::Result<Vec<Resident>> {
    let path = dir.join(RESIDENTS_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (create it with `population-registry generate`)",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_residents_are_valid_and_their_captures_match_only_them() {
        let dir = tempfile::tempdir().unwrap();
        let residents = generate(dir.path(), 20, 1).unwrap();
        assert_eq!(residents.len(), 20);
        assert_eq!(load_residents(dir.path()).unwrap(), residents);
        for r in &residents {
            assert!(eid_core::hkid::Hkid::parse(&r.hkid).is_ok(), "{}", r.hkid);
        }
        let capture: Capture = serde_json::from_slice(
            &std::fs::read(
                dir.path()
                    .join(CAPTURES_DIR)
                    .join(format!("{}.json", file_stem(&residents[0].hkid))),
            )
            .unwrap(),
        )
        .unwrap();
        let own = cosine_similarity(&capture.face_template, &residents[0].face_template);
        let other = cosine_similarity(&capture.face_template, &residents[1].face_template);
        assert!(own > 0.9, "own face {own}");
        assert!(other < 0.5, "another face {other}");
        // Deterministic for a seed.
        let again = tempfile::tempdir().unwrap();
        assert_eq!(generate(again.path(), 20, 1).unwrap(), residents);
    }

    #[test]
    fn check_digits_match_the_published_examples() {
        // A123456(3) and C668668(9) are the commonly cited examples.
        assert_eq!(check_digit("A", "123456"), '3');
        assert_eq!(check_digit("C", "668668"), '9');
        assert_eq!(check_digit("AB", "987654"), '3');
    }

    #[test]
    fn similarity_of_mismatched_templates_is_zero() {
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[1.0]), 0.0);
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine_similarity(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-9);
    }
}
