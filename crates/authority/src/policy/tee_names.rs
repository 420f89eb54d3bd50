//! The names of a TEE-provisioned certificate: the device UID and the identity fields its
//! trusted app read, in standard forms — `serial` as the subject's serialNumber, `mac` as
//! `urn:dev:mac:` (RFC 9039), `imei` as `urn:gsma:imei:` (RFC 7254) — and nothing else.

use inkan_pki::{CheckedCsr, San, Subject, SubjectAttribute};
use inkan_store::TeeAttestation;

/// The identity fields a TA profile may ask its trusted app to read.
pub const IDENTITY_FIELDS: [&str; 3] = ["serial", "mac", "imei"];

const MAC_URN: &str = "urn:dev:mac:";

/// Checks and normalises one identity value.
type FieldCheck = fn(&str) -> Option<String>;
const IMEI_URN: &str = "urn:gsma:imei:";

/// Reads the identity fields `fields` from a CSR the trusted app built for `uid`: each field
/// exactly once and well-formed, the common name (if any) the UID, and no other name.
/// Returns (field, normalised value) in the order of `fields`, or why not.
pub fn read_identity(
    fields: &[String],
    csr: &CheckedCsr,
    uid: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut serials = Vec::new();
    for (attribute, value) in &csr.subject.0 {
        match attribute {
            SubjectAttribute::CommonName if value == uid => {}
            SubjectAttribute::CommonName => {
                return Err(format!(
                    "the CSR's common name {value:?} is not the device UID {uid:?}"
                ))
            }
            SubjectAttribute::SerialNumber => serials.push(value.clone()),
            other => {
                return Err(format!(
                    "the CSR carries subject attribute {other:?}; a trusted app's CSR names the UID and its identity fields only"
                ))
            }
        }
    }
    let (mut macs, mut imeis) = (Vec::new(), Vec::new());
    for san in &csr.sans {
        match san {
            San::Uri(uri) if uri.starts_with(MAC_URN) => macs.push(uri[MAC_URN.len()..].to_string()),
            San::Uri(uri) if uri.starts_with(IMEI_URN) => imeis.push(uri[IMEI_URN.len()..].to_string()),
            other => {
                return Err(format!(
                    "the CSR carries the name {other}; a trusted app's CSR names the UID and its identity fields only"
                ))
            }
        }
    }
    let mut identity = Vec::new();
    for field in fields {
        let (found, check): (&mut Vec<String>, FieldCheck) = match field.as_str() {
            "serial" => (&mut serials, serial),
            "mac" => (&mut macs, mac),
            "imei" => (&mut imeis, imei),
            other => return Err(format!("unknown identity field {other:?}")),
        };
        let value = match found.as_slice() {
            [one] => check(one).ok_or_else(|| format!("the {field} {one:?} is not well-formed"))?,
            [] => {
                return Err(format!(
                    "the TA profile asks for the {field}, and the CSR has none"
                ))
            }
            _ => return Err(format!("the CSR carries more than one {field}")),
        };
        found.clear();
        identity.push((field.clone(), value));
    }
    for (field, left) in [("serial", &serials), ("mac", &macs), ("imei", &imeis)] {
        if !left.is_empty() {
            return Err(format!(
                "the CSR carries a {field}, which the TA profile does not ask for"
            ));
        }
    }
    Ok(identity)
}

/// A hardware serial: 1 to 64 printable ASCII characters.
fn serial(value: &str) -> Option<String> {
    (!value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| value.to_string())
}

/// An EUI-48 or EUI-64 as 12 or 16 hex digits (RFC 9039 §3.2), lowercased.
fn mac(value: &str) -> Option<String> {
    (matches!(value.len(), 12 | 16) && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

/// An IMEI: 15 digits, optionally grouped by dashes (RFC 7254 §4), kept as written.
fn imei(value: &str) -> Option<String> {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    (digits == 15
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-'))
    .then(|| value.to_string())
}

/// The subject and SANs to issue for verified TEE evidence.
pub(super) fn names(evidence: &TeeAttestation) -> (Subject, Vec<San>) {
    let mut subject = vec![(SubjectAttribute::CommonName, evidence.uid.clone())];
    let mut sans = vec![San::Uri(format!("urn:inkan:tee:{}", evidence.uid))];
    for (field, value) in &evidence.identity {
        match field.as_str() {
            "serial" => subject.push((SubjectAttribute::SerialNumber, value.clone())),
            "mac" => sans.push(San::Uri(format!("{MAC_URN}{value}"))),
            "imei" => sans.push(San::Uri(format!("{IMEI_URN}{value}"))),
            _ => {}
        }
    }
    (Subject(subject), sans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkan_pki::KeyType;

    fn csr(subject: Vec<(SubjectAttribute, &str)>, sans: Vec<&str>) -> CheckedCsr {
        CheckedCsr {
            subject: Subject(
                subject
                    .into_iter()
                    .map(|(a, v)| (a, v.to_string()))
                    .collect(),
            ),
            sans: sans.into_iter().map(|u| San::Uri(u.into())).collect(),
            spki_der: vec![],
            key_type: KeyType::P256,
        }
    }

    fn fields(f: &[&str]) -> Vec<String> {
        f.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_asked_field_is_read_once_and_normalised() {
        let c = csr(
            vec![
                (SubjectAttribute::CommonName, "unit-1"),
                (SubjectAttribute::SerialNumber, "SN-42"),
            ],
            vec![
                "urn:dev:mac:0011AABBCCDD",
                "urn:gsma:imei:35-209900-176148-1",
            ],
        );
        let got = read_identity(&fields(&["serial", "mac", "imei"]), &c, "unit-1").unwrap();
        assert_eq!(
            got,
            vec![
                ("serial".into(), "SN-42".into()),
                ("mac".into(), "0011aabbccdd".into()),
                ("imei".into(), "35-209900-176148-1".into()),
            ]
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let uid = "unit-1";
        let cn = (SubjectAttribute::CommonName, uid);
        let cases = [
            (
                csr(vec![(SubjectAttribute::CommonName, "unit-2")], vec![]),
                fields(&[]),
            ),
            (
                csr(vec![cn, (SubjectAttribute::Organization, "x")], vec![]),
                fields(&[]),
            ),
            (csr(vec![cn], vec!["urn:inkan:device:x"]), fields(&[])),
            (csr(vec![cn], vec![]), fields(&["serial"])),
            (csr(vec![cn], vec!["urn:dev:mac:0011"]), fields(&["mac"])),
            (csr(vec![cn], vec!["urn:gsma:imei:1234"]), fields(&["imei"])),
            (
                csr(
                    vec![cn],
                    vec!["urn:dev:mac:001122334455", "urn:dev:mac:001122334466"],
                ),
                fields(&["mac"]),
            ),
            (
                csr(vec![cn, (SubjectAttribute::SerialNumber, "s")], vec![]),
                fields(&[]),
            ),
            (csr(vec![cn], vec![]), fields(&["colour"])),
        ];
        for (c, f) in cases {
            assert!(read_identity(&f, &c, uid).is_err(), "{c:?} {f:?}");
        }
    }

    #[test]
    fn names_are_the_uid_and_the_fields() {
        let evidence = TeeAttestation {
            serial: String::new(),
            uid: "unit-1".into(),
            model: "m".into(),
            profile: "p".into(),
            version: 1,
            challenge: "00".into(),
            key_storage: "software".into(),
            identity: vec![
                ("serial".into(), "SN".into()),
                ("mac".into(), "001122334455".into()),
            ],
            checks: vec![],
            verified_at_ms: 0,
        };
        let (subject, sans) = names(&evidence);
        assert_eq!(subject.to_string(), "CN=unit-1,serialNumber=SN");
        assert_eq!(
            sans,
            vec![
                San::Uri("urn:inkan:tee:unit-1".into()),
                San::Uri("urn:dev:mac:001122334455".into())
            ]
        );
    }
}
