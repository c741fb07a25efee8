#!/usr/bin/env bash
# Smoke test: a real excd driven by the S3 clients users have (Debian's aws
# CLI, rclone and s3cmd). Prints "N passed, M failed"; exits non-zero on any
# failure. Needs: go, /usr/bin/aws, rclone, s3cmd, curl.
set -uo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/excd" ./cmd/excd || exit 1
go build -o "$work/exc" ./cmd/exc || exit 1
# The aws CLI 2.9 presigns only GET; this prints presigned PUT URLs.
go build -o "$work/presign" ./internal/smoketool/presign || exit 1
export EXC_ROOT_ACCESS_KEY=EXCSMOKE000000000001
export EXC_ROOT_SECRET_KEY=smokesecret00000000000000000000000000000
# stderr is excd's JSON log (the default when it is not a terminal); the
# "S3 endpoint" record's url is the address it bound.
"$work/excd" --data-dir "$work/data" --listen 127.0.0.1:0 --log-format json >"$work/excd.log" 2>&1 &
pid=$!
endpoint=""
for _ in $(seq 1 600); do # a bound for a hang: 60 s on a loaded machine
  endpoint=$(sed -n 's/.*"msg":"S3 endpoint".*"url":"\([^"]*\)".*/\1/p' "$work/excd.log")
  [ -n "$endpoint" ] && break
  sleep 0.1
done
if [ -z "$endpoint" ]; then
  echo "excd did not start:"; cat "$work/excd.log"; exit 1
fi
echo "excd at $endpoint"

passed=0 failed=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/out" | tail -20
  fi
}

# --- aws CLI (Debian's 2.9 ignores endpoint_url in profiles: pass it) ---
export AWS_ACCESS_KEY_ID=$EXC_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$EXC_ROOT_SECRET_KEY AWS_DEFAULT_REGION=auto
AWS=(/usr/bin/aws --endpoint-url "$endpoint")
head -c 3000000 /dev/urandom >"$work/f1"
mkdir -p "$work/tree/sub" && for i in $(seq 1 60); do head -c $((i * 97)) /dev/urandom >"$work/tree/f$i"; done
for i in $(seq 1 20); do echo "file $i" >"$work/tree/sub/s$i.txt"; done

check "aws s3 mb" "${AWS[@]}" s3 mb s3://smoke
check "aws s3 cp up" "${AWS[@]}" s3 cp "$work/f1" s3://smoke/dir/f1
check "aws s3 cp down + compare" bash -c "$(printf '%q ' "${AWS[@]}") s3 cp s3://smoke/dir/f1 '$work/f1.back' && cmp '$work/f1' '$work/f1.back'"
check "aws s3 ls" bash -c "$(printf '%q ' "${AWS[@]}") s3 ls s3://smoke/dir/ | grep -q ' f1$'"
check "aws s3api head-object" "${AWS[@]}" s3api head-object --bucket smoke --key dir/f1
check "aws s3 sync up" "${AWS[@]}" s3 sync "$work/tree" s3://smoke/tree
check "aws s3 sync down + diff" bash -c "$(printf '%q ' "${AWS[@]}") s3 sync s3://smoke/tree '$work/tree.back' && diff -r '$work/tree' '$work/tree.back'"
head -c $((100 << 20)) /dev/urandom >"$work/big"
check "aws s3 cp 100 MiB up (multipart)" "${AWS[@]}" s3 cp "$work/big" s3://smoke/big
check "multipart ETag" bash -c "$(printf '%q ' "${AWS[@]}") s3api head-object --bucket smoke --key big | grep -q 'ETag.*-[0-9]'"
check "aws s3 cp 100 MiB down + sha256" bash -c "$(printf '%q ' "${AWS[@]}") s3 cp s3://smoke/big '$work/big.back' && [ \"\$(sha256sum <'$work/big')\" = \"\$(sha256sum <'$work/big.back')\" ]"
check "aws s3api put-object-tagging" "${AWS[@]}" s3api put-object-tagging --bucket smoke --key big --tagging 'TagSet=[{Key=origin,Value=smoke}]'
check "aws s3 cp s3->s3 100 MiB (multipart copy) + sha256" bash -c "$(printf '%q ' "${AWS[@]}") s3 cp s3://smoke/big s3://smoke/big-copy && $(printf '%q ' "${AWS[@]}") s3 cp s3://smoke/big-copy '$work/big.copy' && [ \"\$(sha256sum <'$work/big')\" = \"\$(sha256sum <'$work/big.copy')\" ]"
check "s3->s3 copy keeps tags" bash -c "$(printf '%q ' "${AWS[@]}") s3api get-object-tagging --bucket smoke --key big-copy | grep -q smoke"
check "aws s3 presign + curl GET" bash -c "url=\$($(printf '%q ' "${AWS[@]}") s3 presign s3://smoke/dir/f1 --expires-in 300) && curl -sSf \"\$url\" | cmp - '$work/f1'"
check "presigned GET URL refuses a PUT" bash -c "url=\$($(printf '%q ' "${AWS[@]}") s3 presign s3://smoke/dir/f1 --expires-in 300) && code=\$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data x \"\$url\") && [ \"\$code\" = 403 ]"
PRESIGN=("$work/presign" -endpoint "$endpoint" -bucket smoke -expires 5m)
check "presigned PUT with curl -T + aws cp down + compare" bash -c "url=\$($(printf '%q ' "${PRESIGN[@]}") -key put/f1) && curl -sSf -T '$work/f1' \"\$url\" && $(printf '%q ' "${AWS[@]}") s3 cp s3://smoke/put/f1 '$work/f1.put' && cmp '$work/f1' '$work/f1.put'"
# One character of the signature changed: 403, and nothing is stored.
check "presigned PUT with a tampered signature is 403" bash -c "url=\$($(printf '%q ' "${PRESIGN[@]}") -key put/tampered) && last=\${url: -1} && if [ \"\$last\" = 0 ]; then c=1; else c=0; fi && code=\$(curl -s -o /dev/null -w '%{http_code}' -T '$work/f1' \"\${url%?}\$c\") && [ \"\$code\" = 403 ] && ! $(printf '%q ' "${AWS[@]}") s3api head-object --bucket smoke --key put/tampered || { echo \"HTTP \$code\"; false; }"
check "aws s3 rm" "${AWS[@]}" s3 rm s3://smoke/dir/f1
# A failed command is not enough (a refused connection fails too): the
# answer must be S3's for a missing key.
check "aws missing key is NoSuchKey" bash -c "! $(printf '%q ' "${AWS[@]}") s3api get-object --bucket smoke --key dir/f1 '$work/gone' >'$work/gone.out' 2>&1 && grep -q '(NoSuchKey)' '$work/gone.out' || { cat '$work/gone.out'; false; }"
check "aws missing key HEAD is 404" bash -c "! $(printf '%q ' "${AWS[@]}") s3api head-object --bucket smoke --key dir/f1 >'$work/gone.out' 2>&1 && grep -q '(404)' '$work/gone.out' || { cat '$work/gone.out'; false; }"

# --- rclone, with the remote exactly as `exc … --format rclone --write` writes it ---
# configure CLIENT: exc writes CLIENT's config for the root key (secret on stdin).
configure() {
  printf '%s\n' "$EXC_ROOT_SECRET_KEY" | "$work/exc" keys configure "$EXC_ROOT_ACCESS_KEY" --profile exc --endpoint "$endpoint" --format "$1" --write
}
export RCLONE_CONFIG=$work/rclone.conf
check "exc configure --format rclone --write" configure rclone
check "rclone copy" rclone copy "$work/tree" exc:smoke/rc
check "rclone check" rclone check "$work/tree" exc:smoke/rc
check "rclone lsf" bash -c "rclone lsf -R exc:smoke/rc | grep -q '^sub/s7.txt$'"

# --- s3cmd, with the .s3cfg exactly as `exc … --format s3cmd --write` writes it ---
export S3CMD_CONFIG=$work/s3cfg
check "exc configure --format s3cmd --write" configure s3cmd
S3CMD=(s3cmd -c "$work/s3cfg")
check "s3cmd put" "${S3CMD[@]}" put "$work/f1" s3://smoke/s3cmd/f1
check "s3cmd get + compare" bash -c "$(printf '%q ' "${S3CMD[@]}") get --force s3://smoke/s3cmd/f1 '$work/f1.s3cmd' && cmp '$work/f1' '$work/f1.s3cmd'"
check "s3cmd ls" bash -c "$(printf '%q ' "${S3CMD[@]}") ls s3://smoke/s3cmd/ | grep -q 's3cmd/f1'"
check "s3cmd put 100 MiB (multipart)" "${S3CMD[@]}" put "$work/big" s3://smoke/s3cmd/big
check "s3cmd get 100 MiB + compare" bash -c "$(printf '%q ' "${S3CMD[@]}") get --force s3://smoke/s3cmd/big '$work/big.s3cmd' && cmp '$work/big' '$work/big.s3cmd'"
check "s3cmd del" "${S3CMD[@]}" del s3://smoke/s3cmd/f1

# --- exc: a key made over the admin socket, configured as an aws profile ---
EXC=("$work/exc" --socket "$work/data/admin.sock")
check "exc status" "${EXC[@]}" status
check "exc buckets create" "${EXC[@]}" buckets create excsmoke
"${EXC[@]}" --json keys create >"$work/key.json" 2>/dev/null
keyid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key_id"])' "$work/key.json" 2>/dev/null)
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret_access_key"])' "$work/key.json" 2>/dev/null)
check "exc keys create" test -n "$keyid" -a -n "$secret"
mkdir -p "$work/home"
check "exc buckets keys configure (the hosted path)" env HOME="$work/home" bash -c "printf '%s\n' '$secret' | $(printf '%q ' "${EXC[@]}") buckets keys configure '$keyid' --profile excsmoke --endpoint '$endpoint'"
PROFILE=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$work/home" /usr/bin/aws --profile excsmoke --endpoint-url "$endpoint")
# The closing hint works with the aws CLI configure finds (here Debian's, first on PATH).
check "exc configure's hint works with the aws CLI on PATH" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_DEFAULT_REGION PATH="/usr/bin:$PATH" HOME="$work/home" bash -c "hint=\$(printf '%s\n' '$secret' | $(printf '%q ' "${EXC[@]}") buckets keys configure '$keyid' --profile excsmoke --endpoint '$endpoint' | sed -n 's/^try: //p') && echo \"\$hint\" && [ -n \"\$hint\" ] && eval \"\$hint\" | grep -q excsmoke"
check "aws --profile s3 ls" bash -c "$(printf '%q ' "${PROFILE[@]}") s3 ls | grep -q excsmoke"
check "aws --profile s3 cp" bash -c "$(printf '%q ' "${PROFILE[@]}") s3 cp '$work/f1' s3://excsmoke/f1 && $(printf '%q ' "${PROFILE[@]}") s3 cp s3://excsmoke/f1 '$work/f1.profile' && cmp '$work/f1' '$work/f1.profile'"

# SIGTERM: a clean stop, exit status 0 (a hang is killed after 2 minutes).
kill -TERM "$pid"
(sleep 120; kill -KILL "$pid" 2>/dev/null) &
watchdog=$!
if wait "$pid"; then
  passed=$((passed + 1)); echo "ok   excd stops on SIGTERM with status 0"
else
  status=$?
  failed=$((failed + 1)); echo "FAIL excd stopped with status $status"; tail -20 "$work/excd.log" | sed 's/^/     /'
fi
kill "$watchdog" 2>/dev/null
pid=""

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
