#!/bin/sh
# Regenerates the TLS fixtures used by `exporter::web_config` tests.
# Everything here is test-only key material with 100-year validity; never use it elsewhere.
# Usage: sh gen.sh   (needs the openssl CLI)
set -eu
cd "$(dirname "$0")"
DAYS=36500

ext() { printf '%s\n' "$@" > ext.tmp; }

# Test CA and a second, unrelated CA.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key -out ca.pem \
  -days $DAYS -subj "/CN=promhttp test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout other_ca.key -out other_ca.pem \
  -days $DAYS -subj "/CN=promhttp other CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() { # name keyalg-args ca subject ext-lines...
  name=$1; keyargs=$2; ca=$3; subj=$4; shift 4
  ext "$@"
  # shellcheck disable=SC2086
  openssl req -new -nodes -newkey $keyargs -keyout "$name.key" -out "$name.csr" -subj "$subj"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -out "$name.pem" \
    -days $DAYS -extfile ext.tmp
  rm -f "$name.csr"
}

# Server certificates (RSA, so the TLS_ECDHE_RSA_* suites work), for localhost / 127.0.0.1.
leaf server rsa:2048 ca "/CN=localhost" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf server2 rsa:2048 ca "/CN=localhost second" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1"

# Client certificates: one from the test CA with one SAN of each kind, one from the other CA.
leaf client "ec -pkeyopt ec_paramgen_curve:P-256" ca "/CN=client" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" \
  "subjectAltName=DNS:client.example.com,email:scraper@example.com,URI:spiffe://example.com/prometheus,IP:10.1.2.3,IP:2001:db8::1"
leaf other_client "ec -pkeyopt ec_paramgen_curve:P-256" other_ca "/CN=other client" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth" "subjectAltName=DNS:client.example.com"

# The CA keys are not needed by the tests; rerun this script to make new fixtures.
rm -f ext.tmp ./*.srl ca.key other_ca.key
