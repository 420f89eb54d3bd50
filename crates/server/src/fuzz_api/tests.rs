use super::*;

const JSON: &[u8] = b"application/json";

#[test]
fn bodies_are_parsed_strictly_as_the_handlers_do() {
    assert!(v1_body(V1Body::NewProduct, JSON, br#"{"name":"a","psk":true}"#).is_ok());
    let unknown = v1_body(V1Body::NewProduct, JSON, br#"{"name":"a","admin":true}"#);
    assert!(unknown.is_err_and(|e| e.contains("unknown field")));
    let media = v1_body(V1Body::Revoke, b"text/plain", b"{}");
    assert!(media.is_err_and(|e| e.contains("415")));
    assert!(v1_body(V1Body::Register, JSON, br#"{"device_info":{}}"#).is_err());
    assert!(v1_body(V1Body::Activation, JSON, b"null").is_err());
}

#[test]
fn queries_are_parsed_as_the_extractor_does() {
    assert!(v1_query(V1Query::Revocations, "since=1&limit=2").is_ok());
    assert!(v1_query(V1Query::Revocations, "since=x").is_err());
    assert!(v1_query(V1Query::Devices, "product=a&other=1").is_err());
}

#[test]
fn est_requests_decode_wrapped_base64_and_refuse_the_rest() {
    let body = b"AQID\r\nBAU=\n";
    let basic = b"Basic ZXN0OnNlY3JldA==";
    assert_eq!(
        est_request(b"application/pkcs10", basic, body),
        Ok(vec![1, 2, 3, 4, 5])
    );
    assert!(est_request(b"application/json", b"", body).is_err());
    assert!(est_request(b"application/pkcs10", b"Bearer x", body).is_err());
    assert!(est_request(b"application/pkcs10", b"", b" \n").is_err());
    assert!(est_request(b"application/pkcs10", b"", b"not base64!").is_err());
}

#[test]
fn ocsp_get_paths_decode_to_der_or_nothing() {
    assert_eq!(ocsp_get_der(" AQI= "), vec![1, 2]);
    assert!(ocsp_get_der("%%%").is_empty());
}
