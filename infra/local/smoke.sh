#!/usr/bin/env bash
# End-to-end check of the running services (after up.sh), a few seconds:
# MariaDB as the app user, Kafka offsets-for-times on a 4-partition topic with
# explicit record timestamps, SQS send/receive on LocalStack, a conditional
# put on DynamoDB Local, and cargo-lambda on PATH. Leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/env.sh"
. "$here/lib.sh"
fail() { log "SMOKE FAIL: $*"; exit 1; }
tag="smoke_$$_$RANDOM"

# --- MariaDB: the app user can create and drop a database (tests do that).
mariadb --protocol=tcp -h"$MARIADB_HOST" -P"$MARIADB_PORT" -u"$MARIADB_USER" -p"$MARIADB_PASSWORD" \
  -e "CREATE DATABASE $tag; CREATE TABLE $tag.t (id INT PRIMARY KEY); INSERT INTO $tag.t VALUES (1); DROP DATABASE $tag;" ||
  fail "mariadb"
log "mariadb ok"

# --- Kafka: record i -> partition i%4, timestamp START + i minutes, 3 days ago.
cp="$KAFKA_LIBS/*"
kt() { java -cp "$cp" "$@" 2>&1 | grep -v -e '^WARNING' -e 'could collide' || true; }
kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --create --topic "$tag" \
  --partitions 4 --replication-factor 1 >/dev/null
start=$(( $(date +%s) * 1000 - 3 * 86400000 ))
java -cp "$cp" "$here/kafka/TimestampProducer.java" "$KAFKA_BROKERS" "$tag" 4 12 "$start" 60000 >/dev/null
offsets() { kt org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$KAFKA_BROKERS" --topic "$tag" --time "$1" | sort | tr '\n' ' '; }
check() {  # check TIME EXPECTED
  local got; got=$(offsets "$1")
  [[ $got == "$2" ]] || fail "kafka offsets for time $1: got '$got', want '$2'"
}
check "$start"                   "$tag:0:0 $tag:1:0 $tag:2:0 $tag:3:0 "
check $((start + 5 * 60000))     "$tag:0:2 $tag:1:1 $tag:2:1 $tag:3:1 "
check $((start + 11 * 60000))    "$tag:3:2 "   # only partition 3 has a record that late
check $((start + 12 * 60000))    ""           # past the end: no offset
check -1                         "$tag:0:3 $tag:1:3 $tag:2:3 $tag:3:3 "   # latest
kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --delete --topic "$tag" >/dev/null
log "kafka ok (offsets-for-times on 4 partitions, 3-day-old timestamps)"

# --- SQS on LocalStack and DynamoDB Local, with the boto3 that LocalStack ships
# (or any python3 with boto3 when LocalStack was external and not installed here).
py="$LOCALSTACK_VENV/bin/python"
[[ -x $py ]] || py=python3
"$py" -c 'import boto3' 2>/dev/null || fail "no boto3 (expected in $LOCALSTACK_VENV)"
"$py" - "$tag" <<'PY' || fail "sqs/dynamodb"
import os, sys, boto3
tag = sys.argv[1]
sqs = boto3.client("sqs")  # AWS_ENDPOINT_URL from env.sh
url = sqs.create_queue(QueueName=tag)["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="hello")
msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
assert [m["Body"] for m in msgs] == ["hello"], msgs
sqs.delete_queue(QueueUrl=url)
ddb = boto3.client("dynamodb")  # AWS_ENDPOINT_URL_DYNAMODB from env.sh
ddb.create_table(TableName=tag, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
ddb.put_item(TableName=tag, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
try:
    ddb.put_item(TableName=tag, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    raise SystemExit("conditional put did not fail")
except ddb.exceptions.ConditionalCheckFailedException:
    pass
ddb.delete_table(TableName=tag)
PY
log "sqs ok, dynamodb ok"

# --- cargo-lambda (not a build: only the version).
cargo lambda --version >/dev/null || fail "cargo lambda"
log "cargo-lambda ok"
echo "smoke: all services ok"
