#!/usr/bin/env python3
"""Checks that template.yaml creates what the Rust functions read and call.

Without an AWS account nothing here runs the functions against the deployed
stack, so this compares the two texts instead:

- every environment variable the template sets is read by the function code
  (config.rs, or a std::env::var / EnvFilter call elsewhere in the functions),
  and every variable config.rs requires (`required(env, "X")`) is set;
- SLICE_QUEUE_URL and CHECKPOINT_TABLE point at an SQS queue and a DynamoDB
  table of this template; secrets come from Secrets Manager dynamic references;
- the table's key schema and TTL attribute are the ones adapters/dynamo.rs uses;
- the slice queue has a redrive policy to a dead-letter queue and a visibility
  timeout no shorter than the worker's timeout;
- the worker's SQS event is on that queue with ReportBatchItemFailures, and the
  worker's handler returns an SqsBatchResponse;
- each function's role allows the SQS and DynamoDB actions its code calls, on
  this stack's queue and table, and no statement of the template has a "*"
  resource (the AWS managed VPC policy is the one, allow-listed, exception);
- each function logs to a log group of the template that has a retention;
- the KafkaAuth parameter offers only KAFKA_AUTH modes the code accepts
  (adapters/kafka_auth.rs) and is what sets KAFKA_AUTH;
- the connection budget: for every value of DatabaseConnectionBudget, the
  functions' reserved concurrency times their pools (DATABASE_MAX_CONNECTIONS),
  plus the operator's connections, stay within it, and the worker's SQS
  MaximumConcurrency is its reserved concurrency and its WORKER_POOL_SLICES;
- functions publish versions behind an alias with a DeploymentPreference
  whose alarms are alarms of this template.

Usage: check_template_matches_code.py [--template PATH] [--repo DIR] [-v]
Exit status 0 when everything matches, 1 with one line per mismatch otherwise.
Needs PyYAML (the SAM CLI's virtualenv has it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

# ----------------------------------------------------------------- template


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short-form tags."""


def _long_form(tag: str, node: yaml.Node, loader: CfnLoader):
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"
    if tag == "Condition":
        name = "Condition"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


for _tag in (
    "Ref", "Sub", "GetAtt", "If", "Not", "Equals", "And", "Or", "Condition", "Join", "Select",
    "Split", "FindInMap", "Base64", "Cidr", "ImportValue", "GetAZs", "Transform", "Length", "ToJsonString",
):
    CfnLoader.add_constructor(f"!{_tag}", lambda loader, node, t=_tag: _long_form(t, node, loader))


def load_template(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)


def branches(value) -> list:
    """The values an `!If [cond, a, b]` may take (the value itself otherwise)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"} and len(value["Fn::If"]) == 3:
        return branches(value["Fn::If"][1]) + branches(value["Fn::If"][2])
    return [value]


def ref_target(value, among: dict | None = None) -> str | None:
    """The logical id of `!Ref X` (or of the branch of an !If that refers to
    one of `among`), or None."""
    for v in branches(value):
        if isinstance(v, dict) and set(v) == {"Ref"} and (among is None or v["Ref"] in among):
            return v["Ref"]
    return None


def param_default(tpl: dict, value, fallback=None):
    """A literal, or the Default of the parameter `!Ref` names."""
    name = ref_target(value, tpl.get("Parameters", {}))
    if name is not None:
        return tpl["Parameters"][name].get("Default", fallback)
    return value if value is not None else fallback


def getatt_target(value, attribute: str) -> str | None:
    """The logical id of `!GetAtt X.<attribute>`, or None."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, list) and len(target) == 2 and target[1] == attribute:
            return target[0]
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for v in branches(value):
            found = getatt_target(v, attribute)
            if found:
                return found
    return None


def strings_in(value) -> list[str]:
    """Every string literal in a (possibly intrinsic) value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    return []


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------- code

ENV_READ_IN_CONFIG = re.compile(
    r'(?:required|parsed(?:::<[^>]+>)?|millis)\(\s*env,\s*"([A-Z0-9_]+)"|(?:env|base)\s*\.get\(\s*"([A-Z0-9_]+)"\s*\)'
)
# Variables the template sets that libraries read, not the project's code.
READ_BY_LIBRARIES = {
    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "lambda_http: leave the REST stage out of request paths",
    "AWS_ENDPOINT_URL_DYNAMODB": "the AWS SDK: DynamoDB's endpoint (DynamoDB Local on the local stack)",
    "AWS_ENDPOINT_URL_SQS": "the AWS SDK: SQS's endpoint (a counting proxy in the benchmarks)",
}
ENV_READ_ELSEWHERE = re.compile(r'(?:env::var|try_from_env)\(\s*"([A-Z0-9_]+)"\s*\)')
REQUIRED_IN_CONFIG = re.compile(r'required\(\s*env,\s*"([A-Z0-9_]+)"\s*\)')
SDK_CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\(\)\s*\.")

# SDK operations whose IAM action has another name.
IAM_ACTION_OF = {
    "send_message_batch": "SendMessage",
    "delete_message_batch": "DeleteMessage",
    "change_message_visibility_batch": "ChangeMessageVisibility",
}
DYNAMODB_OPS = {
    "get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_get_item",
    "batch_write_item", "transact_get_items", "transact_write_items", "describe_table",
}
KMS_OPS = {"generate_data_key", "decrypt"}
# Which use of the secrets service needs which KMS call (services/secrets.rs):
# sealing a new secret makes a data key, signing opens one.
# What a function does with the key, by the use in its code: a new webhook's
# secret is sealed; deliveries are signed through `StoreSigners`, which opens it.
KMS_ACTION_OF_USE = {
    "secrets::new_secret": "kms:GenerateDataKey",
    "secrets::signer": "kms:Decrypt",
    "StoreSigners {": "kms:Decrypt",
}
SQS_OPS = {
    "send_message", "send_message_batch", "receive_message", "delete_message", "delete_message_batch",
    "change_message_visibility", "change_message_visibility_batch", "get_queue_attributes", "purge_queue",
}


def iam_action(service: str, op: str) -> str:
    pascal = IAM_ACTION_OF.get(op) or "".join(part.capitalize() for part in op.split("_"))
    return f"{service}:{pascal}"


def impl_block(source: str, header: str) -> str:
    """The text of the `impl ... {` block that starts with `header` (brace-matched)."""
    start = source.find(header)
    if start < 0:
        return ""
    depth, i = 0, source.index("{", start)
    for j in range(i, len(source)):
        if source[j] == "{":
            depth += 1
        elif source[j] == "}":
            depth -= 1
            if depth == 0:
                return source[i : j + 1]
    return source[i:]


def actions_called(block: str, service: str, ops: set[str]) -> set[str]:
    return {iam_action(service, op) for op in SDK_CALL.findall(block) if op in ops}


# -------------------------------------------------------------------- check


class Check:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.passed: list[str] = []

    def ok(self, condition: bool, success: str, failure: str) -> bool:
        (self.passed if condition else self.errors).append(success if condition else failure)
        return condition


ALLOWED_MANAGED_POLICIES = {"service-role/AWSLambdaVPCAccessExecutionRole"}


BUDGET_PARAMETER = "DatabaseConnectionBudget"
# replayctl and migrations, beside the functions.
OPERATOR_CONNECTIONS = 5


def evaluate(value, conditions: dict, budget: str):
    """`value` with the template's Fn::If on Budget* conditions decided for `budget`."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        cond = conditions.get(name, {}).get("Fn::Equals", [])
        refs = [ref_target(x) for x in cond]
        literal = [x for x in cond if not isinstance(x, dict)]
        if BUDGET_PARAMETER not in refs or len(literal) != 1:
            return None
        return evaluate(yes if str(literal[0]) == budget else no, conditions, budget)
    if isinstance(value, (int, str)) and str(value).isdigit():
        return int(value)
    return None


def check_connection_budget(c: Check, tpl: dict, functions: dict) -> None:
    param = tpl.get("Parameters", {}).get(BUDGET_PARAMETER, {})
    budgets = [str(v) for v in param.get("AllowedValues", [])]
    if not c.ok(bool(budgets), f"a {BUDGET_PARAMETER} parameter with its values",
                f"expected a {BUDGET_PARAMETER} parameter with AllowedValues"):
        return
    conditions = tpl.get("Conditions", {})
    for budget in budgets:
        parts, total = [], OPERATOR_CONNECTIONS
        for name, fn in functions.items():
            props = fn.get("Properties", {})
            instances = evaluate(props.get("ReservedConcurrentExecutions"), conditions, budget)
            pool = evaluate((props.get("Environment", {}).get("Variables", {}) or {}).get("DATABASE_MAX_CONNECTIONS"),
                            conditions, budget)
            if not c.ok(instances is not None and pool is not None, f"budget {budget}: {name}'s share",
                        f"{name}: ReservedConcurrentExecutions and DATABASE_MAX_CONNECTIONS must be numbers, or "
                        f"!If on conditions comparing {BUDGET_PARAMETER} (budget {budget})"):
                continue
            for event in (props.get("Events") or {}).values():
                if event.get("Type") == "SQS":
                    esm = (event.get("Properties", {}).get("ScalingConfig") or {}).get("MaximumConcurrency")
                    c.ok(evaluate(esm, conditions, budget) == instances,
                         f"budget {budget}: {name}'s SQS MaximumConcurrency is its reserved concurrency",
                         f"{name}: ScalingConfig.MaximumConcurrency must equal its ReservedConcurrentExecutions "
                         f"(budget {budget})")
                    pool_slices = (props.get("Environment", {}).get("Variables", {}) or {}).get("WORKER_POOL_SLICES")
                    c.ok(evaluate(pool_slices, conditions, budget) == evaluate(esm, conditions, budget),
                         f"budget {budget}: {name}'s WORKER_POOL_SLICES is its SQS MaximumConcurrency",
                         f"{name}: WORKER_POOL_SLICES must equal ScalingConfig.MaximumConcurrency (budget {budget}): "
                         f"the take caps running slices at it, so a continuation always finds a worker")
            parts.append(f"{name} {instances}x{pool}")
            total += instances * pool
        c.ok(total <= int(budget), f"budget {budget}: {total} connections at most ({', '.join(parts)})",
             f"connection budget {budget} exceeded: {' + '.join(parts)} + {OPERATOR_CONNECTIONS} "
             f"operator connections = {total}")


def check_deployments(c: Check, globals_fn: dict, alarms: dict) -> None:
    c.ok(bool(globals_fn.get("AutoPublishAlias")), "functions publish versions behind an alias",
         "Globals.Function.AutoPublishAlias must be set (versions to roll back to)")
    pref = globals_fn.get("DeploymentPreference") or {}
    named = [ref_target(a) for a in pref.get("Alarms", [])]
    c.ok(bool(pref.get("Type")) and bool(named) and all(a in alarms for a in named),
         f"gradual deploys roll back on {named}",
         "Globals.Function.DeploymentPreference needs a Type and Alarms that are !Ref of this template's alarms")


def main() -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=here.parent.parent)
    parser.add_argument("--template", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="also list the checks that passed")
    args = parser.parse_args()
    repo: Path = args.repo
    template_path: Path = args.template or repo / "template.yaml"
    c = Check()

    tpl = load_template(template_path)
    resources: dict = tpl.get("Resources", {})
    by_type = lambda t: {k: v for k, v in resources.items() if v.get("Type") == t}  # noqa: E731
    queues = by_type("AWS::SQS::Queue")
    tables = by_type("AWS::DynamoDB::Table")
    log_groups = by_type("AWS::Logs::LogGroup")
    roles = by_type("AWS::IAM::Role")
    functions = by_type("AWS::Serverless::Function")
    globals_fn = tpl.get("Globals", {}).get("Function", {})

    core = repo / "functions" / "replay-core" / "src"
    config_rs = (core / "config.rs").read_text(encoding="utf-8")
    dynamo_rs = (core / "adapters" / "dynamo.rs").read_text(encoding="utf-8")
    sqs_rs = (core / "adapters" / "sqs.rs").read_text(encoding="utf-8")
    kms_rs = (core / "adapters" / "kms.rs").read_text(encoding="utf-8")
    services = core / "services"
    contexts = {
        "ApiContext": "".join(f.read_text(encoding="utf-8") for f in sorted((services / "api").glob("*.rs"))),
        "WorkerContext": (services / "worker.rs").read_text(encoding="utf-8"),
        "SweeperContext": (services / "sweeper.rs").read_text(encoding="utf-8"),
    }
    # The contexts' clients are built in wiring.rs: each `XContext::connect`
    # there, with the bodies of the helpers it calls (`queue(`, `keys(`, ...).
    wiring_rs = (core / "wiring.rs").read_text(encoding="utf-8")
    helpers = {m.group(1): impl_block(wiring_rs, m.group(0)) for m in re.finditer(r"\nfn (\w+)\(", wiring_rs)}

    def connect_code(context: str) -> str:
        block = impl_block(wiring_rs, f"impl {context} {{")
        return block + "".join(body for helper, body in helpers.items() if re.search(rf"\b{helper}\(", block))

    # The local stack creates the table outside LocalStack the way the template does.
    lab_setup_rs = (repo / "crates" / "replay-lab" / "src" / "setup.rs").read_text(encoding="utf-8")

    # --- functions and their code
    binaries: dict[str, str] = {}  # logical id -> binary
    mains: dict[str, str] = {}
    for name, fn in functions.items():
        meta = fn.get("Metadata", {})
        props = fn.get("Properties", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        c.ok(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod rust-cargolambda",
             f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        runtime = props.get("Runtime", globals_fn.get("Runtime"))
        c.ok(runtime == "provided.al2023", f"{name}: runtime provided.al2023",
             f"{name}: Runtime is {runtime!r}, expected provided.al2023")
        main_rs = repo / "functions" / str(binary) / "src" / "main.rs"
        if c.ok(binary is not None and main_rs.is_file(), f"{name}: binary {binary} is functions/{binary}",
                f"{name}: BuildProperties.Binary {binary!r} has no functions/{binary}/src/main.rs"):
            binaries[name] = binary
            mains[name] = main_rs.read_text(encoding="utf-8")
    for expected in ("replay-api", "replay-worker", "replay-sweeper"):
        c.ok(expected in binaries.values(), f"template builds {expected}", f"no function builds {expected}")
    worker = next((n for n, b in binaries.items() if b == "replay-worker"), None)

    # --- environment variables
    code_dirs = [core] + [repo / "functions" / b / "src" for b in binaries.values()]
    rust_sources = {p: p.read_text(encoding="utf-8") for d in code_dirs for p in sorted(d.rglob("*.rs"))}
    read_in_config = {a or b for a, b in ENV_READ_IN_CONFIG.findall(config_rs)}
    read_elsewhere = {v for text in rust_sources.values() for v in ENV_READ_ELSEWHERE.findall(text)}
    required = set(REQUIRED_IN_CONFIG.findall(config_rs))
    c.ok(bool(required), f"config.rs requires {sorted(required)}", "found no required(env, ...) in config.rs")

    global_env = globals_fn.get("Environment", {}).get("Variables", {}) or {}
    env_of: dict[str, dict] = {}
    for name, fn in functions.items():
        env = dict(global_env)
        env.update(fn.get("Properties", {}).get("Environment", {}).get("Variables", {}) or {})
        env_of[name] = env
        for var in sorted(env):
            if var in read_in_config or var in READ_BY_LIBRARIES:
                continue
            c.ok(var in read_elsewhere, f"{name}: {var} is read by the function code",
                 f"{name}: the template sets {var}, which no function code reads (typo, or a setting config.rs dropped?)")
        for var in sorted(required - set(env)):
            c.errors.append(f"{name}: config.rs requires {var}, which the template does not set (cold start fails)")
        if "ALLOW_PRIVATE_WEBHOOK_URLS" in env:
            c.errors.append(f"{name}: ALLOW_PRIVATE_WEBHOOK_URLS is a development setting; do not set it in AWS")
        for var in ("DATABASE_URL", "API_KEY_PEPPER"):
            if var in env:
                c.ok(any("{{resolve:secretsmanager:" in s for s in strings_in(env[var])),
                     f"{name}: {var} comes from Secrets Manager",
                     f"{name}: {var} must be a {{{{resolve:secretsmanager:...}}}} dynamic reference, not a plain value")
    c.passed.append(f"environment variables checked against config.rs ({len(read_in_config)} read there)")

    # --- Kafka authentication: the template offers what the code accepts
    kafka_auth_rs = (core / "adapters" / "kafka_auth.rs").read_text(encoding="utf-8")
    modes_src = re.search(r"KAFKA_AUTH_MODES: &\[&str\] = &\[([^\]]*)\]", kafka_auth_rs)
    code_modes = set(re.findall(r'"([a-z_]+)"', modes_src.group(1))) if modes_src else set()
    offered = set(tpl.get("Parameters", {}).get("KafkaAuth", {}).get("AllowedValues", []))
    c.ok(bool(offered) and offered <= code_modes, f"KafkaAuth {sorted(offered)} are KAFKA_AUTH modes of kafka_auth.rs",
         f"KafkaAuth's AllowedValues {sorted(offered)} must be among kafka_auth.rs's KAFKA_AUTH_MODES {sorted(code_modes)}")
    if offered:
        c.ok(ref_target(global_env.get("KAFKA_AUTH"), tpl.get("Parameters", {})) == "KafkaAuth",
             "KAFKA_AUTH is !Ref KafkaAuth", "Globals must set KAFKA_AUTH: !Ref KafkaAuth")

    # --- queue
    queue = table = None
    if worker:
        queue = ref_target(env_of[worker].get("SLICE_QUEUE_URL"), queues)
        table = ref_target(env_of[worker].get("CHECKPOINT_TABLE"), tables)
    c.ok(queue in queues, f"SLICE_QUEUE_URL is !Ref {queue} (AWS::SQS::Queue)",
         f"SLICE_QUEUE_URL must be !Ref of an AWS::SQS::Queue of the template (is {queue!r})")
    c.ok(table in tables, f"CHECKPOINT_TABLE is !Ref {table} (AWS::DynamoDB::Table)",
         f"CHECKPOINT_TABLE must be !Ref of an AWS::DynamoDB::Table of the template (is {table!r})")
    for name, env in env_of.items():
        for var, target in (("SLICE_QUEUE_URL", queue), ("CHECKPOINT_TABLE", table)):
            if ref_target(env.get(var), {**queues, **tables}) != target:
                c.errors.append(f"{name}: {var} differs from the worker's")

    if queue in queues:
        qprops = queues[queue].get("Properties", {})
        redrive = qprops.get("RedrivePolicy") or {}
        dlq = getatt_target(redrive.get("deadLetterTargetArn"), "Arn")
        c.ok(dlq in queues and dlq != queue, f"{queue} redrives to {dlq}",
             f"{queue} needs RedrivePolicy.deadLetterTargetArn: !GetAtt <DLQ>.Arn of another queue of the template")
        max_receives = param_default(tpl, redrive.get("maxReceiveCount"))
        c.ok(isinstance(max_receives, int) and max_receives >= 1, f"{queue} maxReceiveCount {max_receives}",
             f"{queue} RedrivePolicy.maxReceiveCount must be a positive number (is {max_receives!r})")
        if worker:
            wtimeout = param_default(tpl, functions[worker]["Properties"].get("Timeout", globals_fn.get("Timeout", 3)))
            vis = param_default(tpl, qprops.get("VisibilityTimeout"), 30)
            if isinstance(wtimeout, int) and isinstance(vis, int):
                c.ok(vis >= wtimeout, f"{queue} visibility timeout {vis} s >= worker timeout {wtimeout} s",
                     f"{queue} VisibilityTimeout {vis} s is shorter than the worker's Timeout {wtimeout} s")

    # --- table
    code_keys = set(re.findall(r'\.key\(\s*"([^"]+)",\s*AttributeValue::(\w+)\(', dynamo_rs))
    code_schema = set(re.findall(r'KeySchemaElement::builder\(\)\s*\.attribute_name\("([^"]+)"\)', lab_setup_rs))
    code_ttl = set(re.findall(r'TimeToLiveSpecification::builder\(\)\s*\.attribute_name\("([^"]+)"\)', lab_setup_rs))
    c.ok(len(code_keys) == 1, f"dynamo.rs addresses items by {code_keys}",
         f"expected one key attribute in dynamo.rs, found {code_keys}")
    if table in tables and len(code_keys) == 1:
        (key_name, key_type), = code_keys
        tprops = tables[table].get("Properties", {})
        schema = [(k.get("AttributeName"), k.get("KeyType")) for k in tprops.get("KeySchema", [])]
        types = {a.get("AttributeName"): a.get("AttributeType") for a in tprops.get("AttributeDefinitions", [])}
        c.ok(schema == [(key_name, "HASH")], f"{table} key schema is {key_name} HASH",
             f"{table} KeySchema is {schema}, dynamo.rs uses a single hash key {key_name!r}")
        c.ok(types.get(key_name) == key_type, f"{table} {key_name} is type {key_type}",
             f"{table} AttributeDefinitions type of {key_name!r} is {types.get(key_name)!r}, dynamo.rs writes {key_type}")
        c.ok(code_schema == {key_name}, "the local stack's create_table (replay-lab) uses the same key",
             f"replay-lab setup.rs create_table key {code_schema} differs from dynamo.rs's item key {key_name!r}")
        ttl = tprops.get("TimeToLiveSpecification") or {}
        c.ok(ttl.get("Enabled") is True and {ttl.get("AttributeName")} == code_ttl and "expires_at" in dynamo_rs,
             f"{table} TTL on {ttl.get('AttributeName')}",
             f"{table} TimeToLiveSpecification must be enabled on {sorted(code_ttl)} (dynamo.rs), is {ttl}")

    # --- worker event
    if worker:
        events = functions[worker]["Properties"].get("Events", {}) or {}
        sqs_events = [e for e in events.values() if e.get("Type") == "SQS"]
        on_queue = [e for e in sqs_events if getatt_target(e.get("Properties", {}).get("Queue"), "Arn") == queue]
        if c.ok(len(on_queue) == 1, f"{worker} has an SQS event on {queue}",
                f"{worker} needs exactly one SQS event with Queue: !GetAtt {queue}.Arn (found {len(on_queue)})"):
            eprops = on_queue[0]["Properties"]
            c.ok("ReportBatchItemFailures" in as_list(eprops.get("FunctionResponseTypes", [])),
                 f"{worker} SQS event reports batch item failures",
                 f"{worker} SQS event needs FunctionResponseTypes: [ReportBatchItemFailures]")
            c.ok("SqsBatchResponse" in mains.get(worker, ""), "the worker handler returns SqsBatchResponse",
                 "ReportBatchItemFailures is set but the worker's main.rs returns no SqsBatchResponse")

    # --- IAM
    def statements(role: dict) -> list[dict]:
        out = []
        # A policy may be conditional (`!If [Cond, {policy}, !Ref AWS::NoValue]`).
        for entry in role.get("Properties", {}).get("Policies", []) or []:
            for policy in branches(entry):
                if isinstance(policy, dict) and "PolicyDocument" in policy:
                    out += as_list(policy["PolicyDocument"].get("Statement", []))
        return out

    for rname, role in roles.items():
        for st in statements(role):
            for res in as_list(st.get("Resource", [])):
                if isinstance(res, str) and "*" in res:
                    c.errors.append(f"{rname}: statement {st.get('Action')} has resource {res!r}")
        for arn in role.get("Properties", {}).get("ManagedPolicyArns", []) or []:
            text = " ".join(strings_in(arn))
            if not any(text.endswith(f":policy/{allowed}") for allowed in ALLOWED_MANAGED_POLICIES):
                c.errors.append(f"{rname}: managed policy {text} is not allow-listed (least privilege)")
    c.passed.append("no '*' resource in the template's own IAM statements")

    sqs_actions = actions_called(impl_block(sqs_rs, "impl SliceQueue for SqsQueue"), "sqs", SQS_OPS)
    dynamo_actions = actions_called(impl_block(dynamo_rs, "impl CheckpointStore for DynamoCheckpoints"),
                                    "dynamodb", DYNAMODB_OPS)
    kms_actions = actions_called(impl_block(kms_rs, "impl KeyService for KmsKeys"), "kms", KMS_OPS)
    c.ok(kms_actions == set(KMS_ACTION_OF_USE.values()), f"the KMS adapter calls {sorted(kms_actions)}",
         f"the KMS adapter calls {sorted(kms_actions)}, expected {sorted(KMS_ACTION_OF_USE.values())}")
    c.ok(bool(sqs_actions) and bool(dynamo_actions),
         f"the code calls {sorted(sqs_actions | dynamo_actions)}", "found no SQS/DynamoDB calls in the adapters")
    for name, fn in functions.items():
        props = fn.get("Properties", {})
        role_name = getatt_target(props.get("Role"), "Arn")
        if not c.ok(role_name in roles, f"{name}: role {role_name}",
                    f"{name}: needs Role: !GetAtt <an AWS::IAM::Role of the template>.Arn (a SAM-generated role "
                    f"attaches managed policies with '*' resources)"):
            continue
        if props.get("Policies"):
            c.errors.append(f"{name}: Policies are ignored when Role is set; put them on {role_name}")
        granted: set[tuple[str, str]] = set()
        for st in statements(roles[role_name]):
            if st.get("Effect") != "Allow":
                continue
            targets = {getatt_target(r, "Arn") for r in as_list(st.get("Resource", []))}
            for action in as_list(st.get("Action", [])):
                granted |= {(action, t) for t in targets if t}
        needed: set[tuple[str, str]] = set()
        main = mains.get(name, "")
        # The clients are built in main.rs or in the core's `XContext::connect` it calls.
        for context in contexts:
            if f"{context}::connect" in main:
                main += connect_code(context)
        if "SqsQueue::new" in main:
            needed |= {(a, queue) for a in sqs_actions}
        if "DynamoCheckpoints::new" in main:
            needed |= {(a, table) for a in dynamo_actions}
        if "KmsKeys::new" in main:
            # What the function does with the key: its context's use case file.
            uses = "".join(
                source + connect_code(context)
                for context, source in contexts.items()
                if f"{context}::connect" in mains.get(name, "")
            )
            needed |= {(a, "WebhookSecretsKey") for use, a in KMS_ACTION_OF_USE.items() if use in uses}
        if name == worker:
            needed |= {(a, queue) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}
        missing = sorted(needed - granted)
        c.ok(not missing, f"{name}: role grants {sorted(a for a, _ in needed)}",
             f"{name}: {role_name} lacks {', '.join(f'{a} on {t}' for a, t in missing)}")
        extra = sorted(a for a, t in granted - needed)
        if extra:
            c.notes.append(f"{name}: {role_name} also grants {extra}, which the code does not call")

    # --- logs
    for name, fn in functions.items():
        cfg = {**(globals_fn.get("LoggingConfig") or {}), **(fn.get("Properties", {}).get("LoggingConfig") or {})}
        group = ref_target(cfg.get("LogGroup"))
        c.ok(group in log_groups and "RetentionInDays" in log_groups[group].get("Properties", {}),
             f"{name}: logs to {group} with a retention",
             f"{name}: LoggingConfig.LogGroup must be !Ref of an AWS::Logs::LogGroup with RetentionInDays")
        c.ok(cfg.get("LogFormat") == "JSON", f"{name}: JSON logs",
             f"{name}: LoggingConfig.LogFormat must be JSON (telemetry.rs switches to JSON lines on it)")

    # --- the sweeper's stale-heartbeat metric
    alarms = by_type("AWS::CloudWatch::Alarm")
    stale = [a["Properties"] for a in alarms.values() if a.get("Properties", {}).get("MetricName") == "StaleSlices"]
    if c.ok(len(stale) == 1, "an alarm watches StaleSlices", "expected one alarm on the StaleSlices metric"):
        namespace = stale[0].get("Namespace")
        dims = [d.get("Name") for d in stale[0].get("Dimensions", [])]
        emitted = any("StaleSlices" in text for text in rust_sources.values())
        if not emitted:
            c.notes.append(f"no function code emits the StaleSlices metric yet ({namespace}, dimensions {dims}): "
                           "its alarm stays OK until the sweeper publishes it")
        else:
            everything = "\n".join(rust_sources.values())
            c.ok(namespace in everything and all(d in everything for d in dims),
                 f"the code names namespace {namespace} and dimensions {dims}",
                 f"StaleSlices alarm expects namespace {namespace!r} and dimensions {dims}; the code does not name them")

    check_connection_budget(c, tpl, functions)
    check_deployments(c, globals_fn, by_type("AWS::CloudWatch::Alarm"))

    for line in c.passed if args.verbose else []:
        print(f"ok    {line}")
    for line in c.notes:
        print(f"note  {line}")
    for line in c.errors:
        print(f"FAIL  {line}")
    if c.errors:
        print(f"{template_path.name} does not match the code: {len(c.errors)} mismatch(es)", file=sys.stderr)
        return 1
    print(f"{template_path.name} matches the code ({len(c.passed)} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
