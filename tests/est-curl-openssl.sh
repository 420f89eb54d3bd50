#!/usr/bin/env bash
# EST with third-party tools only: curl for HTTP, openssl for keys, CSRs, PKCS#7 and
# verification. Needs EST_URL, EST_SECRET, CA_ROOT (trust anchor PEM) and WORK (a directory).
set -euo pipefail
cd "$WORK"
est="$EST_URL/.well-known/est"

# cacerts: base64 PKCS#7 -> PEM bundle (issuing CA and root)
curl -fsS --cacert "$CA_ROOT" "$est/cacerts" | base64 -d \
  | openssl pkcs7 -inform DER -print_certs -out cacerts.pem
grep -c 'BEGIN CERTIFICATE' cacerts.pem | grep -qx 2

# simpleenroll with the label's secret (HTTP Basic)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device.key \
  -subj /CN=curl-device -outform DER 2>/dev/null | base64 > device.csr.b64
curl -fsS --cacert "$CA_ROOT" -u "device:$EST_SECRET" -H 'Content-Type: application/pkcs10' \
  --data-binary @device.csr.b64 "$est/device/simpleenroll" \
  | base64 -d | openssl pkcs7 -inform DER -print_certs -out device.pem
openssl verify -CAfile "$CA_ROOT" -untrusted cacerts.pem device.pem

# simplereenroll: the current certificate as TLS client certificate, a new key, same subject
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout renewed.key \
  -subj /CN=curl-device -outform DER 2>/dev/null | base64 > renewed.csr.b64
curl -fsS --cacert "$CA_ROOT" --cert device.pem --key device.key \
  -H 'Content-Type: application/pkcs10' --data-binary @renewed.csr.b64 \
  "$est/device/simplereenroll" \
  | base64 -d | openssl pkcs7 -inform DER -print_certs -out renewed.pem
openssl verify -CAfile "$CA_ROOT" -untrusted cacerts.pem renewed.pem
test "$(openssl x509 -in renewed.pem -noout -serial)" != "$(openssl x509 -in device.pem -noout -serial)"

# a wrong secret is refused with 401
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_ROOT" -u "device:wrong" \
  -H 'Content-Type: application/pkcs10' --data-binary @device.csr.b64 "$est/device/simpleenroll")
test "$code" = 401
echo "EST with curl and openssl: OK"
