#!/usr/bin/env bash
# Make a development PKI for jp-importer and jp-primary-dev (tests, demos,
# running the whole system on one machine). NEVER use these in production.
#
#   certs/make-dev-certs.sh [--force] [--rsa | --ec] [--grid-user USER] [DIR]
#
# DIR defaults to the directory holding this script. Nothing is done when the
# files already exist, unless --force is given. The CA, server, client and
# client2 keys are RSA 2048 (Globus GSI needs RSA for the delegation
# globus-url-copy asks for), the other keys EC P-256 (fast to make); --rsa
# makes every key RSA, --ec every key EC (faster; Globus tools then fail).
# grid-mapfile maps the client subjects to USER (default: the current user).
# See certs/README.md for the list of files.
set -euo pipefail

force=0
keyalg=mixed
dir=""
griduser=""
expect_user=0
for arg in "$@"; do
  if [[ $expect_user -eq 1 ]]; then griduser="$arg"; expect_user=0; continue; fi
  case "$arg" in
    --force) force=1 ;;
    --rsa) keyalg=rsa ;;
    --ec) keyalg=ec ;;
    --grid-user) expect_user=1 ;;
    --grid-user=*) griduser="${arg#--grid-user=}" ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-dev-certs.sh: unknown option $arg" >&2; exit 2 ;;
    *)
      if [[ -n "$dir" ]]; then echo "make-dev-certs.sh: only one DIR allowed" >&2; exit 2; fi
      dir="$arg" ;;
  esac
done
if [[ $expect_user -eq 1 ]]; then echo "make-dev-certs.sh: --grid-user needs a user name" >&2; exit 2; fi
if [[ -z "$griduser" ]]; then
  griduser="$(id -un 2>/dev/null || true)"
  if [[ -z "$griduser" ]]; then echo "make-dev-certs.sh: cannot tell the current user's name; give --grid-user USER" >&2; exit 2; fi
fi
if [[ ! "$griduser" =~ ^[A-Za-z0-9._][A-Za-z0-9._-]*$ ]]; then
  echo "make-dev-certs.sh: --grid-user ${griduser@Q}: not a plain user name" >&2; exit 2
fi
if [[ -z "$dir" ]]; then dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; fi
command -v openssl >/dev/null || { echo "make-dev-certs.sh: openssl not found in PATH" >&2; exit 1; }

outputs=(ca.pem ca-key.pem server.pem server-key.pem client.pem client-key.pem
  client2.pem client2-key.pem client-expired.pem client-expired-key.pem
  server-expired.pem server-expired-key.pem server-wronghost.pem server-wronghost-key.pem
  rogue-ca.pem rogue-ca-key.pem rogue-server.pem rogue-server-key.pem
  rogue-client.pem rogue-client-key.pem server-revoked.pem server-revoked-key.pem ca-crl.pem ca grid-mapfile)

if [[ $force -eq 0 ]]; then
  missing=0
  for f in "${outputs[@]}"; do [[ -e "$dir/$f" ]] || missing=1; done
  if [[ $missing -eq 0 ]]; then
    echo "make-dev-certs.sh: dev certificates already present in $dir (use --force to remake)" >&2
    exit 0
  fi
fi

mkdir -p "$dir"
work="$(mktemp -d "$dir/.make-dev-certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
umask 077

# Keys Globus GSI uses (CA, server, clients): RSA unless --ec.
rsa_names=" ca server client client2 "

newkey() { # newkey FILE NAME
  if [[ $keyalg == rsa || ( $keyalg == mixed && "$rsa_names" == *" $2 "* ) ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  fi
}

mkca() { # mkca NAME SUBJECT
  newkey "$work/$1-key.pem" "$1"
  openssl req -new -x509 -key "$work/$1-key.pem" -out "$work/$1.pem" -days 3650 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

# sign CA NAME SUBJECT EXTENSIONS [expired]
sign() {
  local ca="$1" name="$2" subj="$3" ext="$4" expired="${5:-}"
  newkey "$work/$name-key.pem" "$name"
  openssl req -new -key "$work/$name-key.pem" -out "$work/$name.csr" -subj "$subj"
  printf '%b\n' "$ext" >"$work/$name.ext"
  if [[ -z "$expired" ]]; then
    openssl x509 -req -in "$work/$name.csr" -CA "$work/$ca.pem" -CAkey "$work/$ca-key.pem" \
      -set_serial "0x$(openssl rand -hex 8)" -days 825 -extfile "$work/$name.ext" \
      -out "$work/$name.pem" 2>/dev/null
  else
    # `openssl x509` cannot back-date; `openssl ca` can set both dates.
    local cadir="$work/ca-db-$name"
    mkdir -p "$cadir/new"
    : >"$cadir/index.txt"
    openssl rand -hex 8 >"$cadir/serial"
    cat >"$cadir/ca.cnf" <<EOF
[ ca ]
default_ca = dev
[ dev ]
database = $cadir/index.txt
serial = $cadir/serial
new_certs_dir = $cadir/new
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
countryName = optional
organizationName = optional
commonName = supplied
EOF
    openssl ca -batch -notext -config "$cadir/ca.cnf" -cert "$work/$ca.pem" -keyfile "$work/$ca-key.pem" \
      -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$work/$name.ext" \
      -in "$work/$name.csr" -out "$work/$name.pem" 2>/dev/null
  fi
  rm -f "$work/$name.csr" "$work/$name.ext"
}

server_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1'
wronghost_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example'
client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'

mkca ca "/C=CZ/O=jp-importer dev/CN=jp-importer dev CA"
sign ca server "/C=CZ/O=jp-importer dev/CN=localhost" "$server_ext"
sign ca client "/C=CZ/O=jp-importer dev/CN=jp-importer client" "$client_ext"
sign ca client2 "/C=CZ/O=jp-importer dev/CN=jp-importer client 2" "$client_ext"
sign ca client-expired "/C=CZ/O=jp-importer dev/CN=jp-importer expired client" "$client_ext" expired
sign ca server-expired "/C=CZ/O=jp-importer dev/CN=localhost" "$server_ext" expired
sign ca server-wronghost "/C=CZ/O=jp-importer dev/CN=wrong.example" "$wronghost_ext"
sign ca server-revoked "/C=CZ/O=jp-importer dev/CN=localhost" "$server_ext"
mkca rogue-ca "/C=CZ/O=rogue/CN=rogue CA"
sign rogue-ca rogue-server "/C=CZ/O=rogue/CN=localhost" "$server_ext"
sign rogue-ca rogue-client "/C=CZ/O=rogue/CN=rogue client" "$client_ext"
rm -rf "$work"/ca-db-*

# The dev CA's CRL (valid 10 years), revoking server-revoked.pem.
crldb="$work/crl-db"
mkdir -p "$crldb"
: >"$crldb/index.txt"
echo 1000 >"$crldb/crlnumber"
cat >"$crldb/ca.cnf" <<EOF
[ ca ]
default_ca = dev
[ dev ]
database = $crldb/index.txt
crlnumber = $crldb/crlnumber
default_md = sha256
EOF
openssl ca -batch -config "$crldb/ca.cnf" -cert "$work/ca.pem" -keyfile "$work/ca-key.pem" \
  -revoke "$work/server-revoked.pem" -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$crldb/ca.cnf" -cert "$work/ca.pem" -keyfile "$work/ca-key.pem" \
  -gencrl -crldays 3650 -out "$work/ca-crl.pem" 2>/dev/null
rm -rf "$crldb"

# A trust directory laid out like /etc/grid-security/certificates.
hash="$(openssl x509 -in "$work/ca.pem" -noout -hash)"
mkdir -p "$work/ca"
cp "$work/ca.pem" "$work/ca/ca.pem"
ln -s ca.pem "$work/ca/$hash.0"
# The CRL where fetch-crl puts it: <hash>.r0 (PEM).
cp "$work/ca-crl.pem" "$work/ca/$hash.r0"
cat >"$work/ca/$hash.signing_policy" <<EOF
# signing policy of the jp-importer dev CA (not PEM: loaders must skip it)
access_id_CA      X509         '/C=CZ/O=jp-importer dev/CN=jp-importer dev CA'
pos_rights        globus        CA:sign
cond_subjects     globus       '"/C=CZ/O=jp-importer dev/*"'
EOF
cat >"$work/ca/$hash.namespaces" <<EOF
TO Issuer "/C=CZ/O=jp-importer dev/CN=jp-importer dev CA" PERMIT Subject "/C=CZ/O=jp-importer dev/.*"
EOF

# grid-mapfile for a GridFTP server (globus-gridftp-server with GRIDMAP=...): the importer's subjects -> a local user.
cat >"$work/grid-mapfile" <<EOF
"/C=CZ/O=jp-importer dev/CN=jp-importer client" $griduser
"/C=CZ/O=jp-importer dev/CN=jp-importer client 2" $griduser
EOF

chmod 0600 "$work"/*-key.pem
chmod 0644 "$work/grid-mapfile"
chmod 0644 "$work"/ca/ca.pem "$work"/ca/"$hash".signing_policy "$work"/ca/"$hash".namespaces "$work"/ca/"$hash".r0
for f in "$work"/*.pem; do [[ "$f" == *-key.pem ]] || chmod 0644 "$f"; done
chmod 0755 "$work/ca"

rm -rf "$dir/ca"
for f in "${outputs[@]}"; do mv -f "$work/$f" "$dir/$f"; done
echo "make-dev-certs.sh: made dev certificates in $dir (CA hash $hash)" >&2
