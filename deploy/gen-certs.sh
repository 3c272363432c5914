#!/usr/bin/env bash
# Make a private CA and a server certificate for crmd's tls+tcp listener.
#
#   ./deploy/gen-certs.sh [DIR] [NAME...]
#
# DIR defaults to ./certs. NAMEs (default: localhost 127.0.0.1) become the
# certificate's subject alternative names. Writes ca.crt, ca.key,
# server.crt, server.key (keys 0600). Clients trust ca.crt.
set -euo pipefail
dir="${1:-certs}"
shift || true
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=(localhost 127.0.0.1)

mkdir -p "$dir"
umask 077
san=""
for n in "${names[@]}"; do
  if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san="${san%,}"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 \
  -subj "/CN=crmd private CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$dir/server.key" -out "$dir/server.csr" \
  -subj "/CN=${names[0]}" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' \
  "$san" > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -out "$dir/server.crt" -days 825 -extfile "$dir/server.ext" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 0644 "$dir/ca.crt" "$dir/server.crt"
echo "gen-certs: wrote $dir/ca.crt $dir/server.crt $dir/server.key (SAN $san)"
