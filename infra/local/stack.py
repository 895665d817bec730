#!/usr/bin/env python3
"""Deploys template.yaml to LocalStack, as `sam package` + `sam deploy` would.

    stack.py deploy  --name NAME [--bin-dir DIR] [--param Key=Value ...]
                     [--database-url URL] [--pepper P]     -> JSON outputs on stdout
    stack.py delete  --name NAME
    stack.py outputs --name NAME
    stack.py status                                         -> stacks and function processes
    stack.py processes [--function NAME]
    stack.py invoke  --function NAME [--payload JSON]

Packaging: the functions' code is the host's own `cargo build` output
(target/debug or --bin-dir), through LocalStack's hot-reload code location
(S3 bucket `hot-reload`, key = a folder on this machine whose `bootstrap` is a
link to the binary), so nothing is zipped or copied and a rebuilt binary is
what the next invocation runs (the host executor restarts a process whose
binary changed). CodeUri is rewritten, which is what `sam package` does too;
and the functions' AutoPublishAlias and DeploymentPreference are left out:
LocalStack 4.13 cannot update a stack that publishes versions of hot-reload
code (the update deletes the version the `live` alias points at, and the
event sources stop), and has no CodeDeploy (docs/local-stack.md).

Parameters: [local.deploy.parameters] of samconfig.toml, then what only this
machine knows (LocalStack's default VPC, the secrets created here in
LocalStack's Secrets Manager), then --param. A deploy is a CloudFormation
change set; one without changes returns at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import boto3
import yaml

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STATE") or REPO / ".local")
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}"
REGION = os.environ.get("AWS_REGION") or "us-east-1"
ARTIFACTS_BUCKET = "activity-replay-local-artifacts"
HOT_RELOAD_BUCKET = "hot-reload"  # LocalStack's BUCKET_MARKER_LOCAL
FUNCTIONS = {"ApiFunction": "replay-api", "WorkerFunction": "replay-worker", "SweeperFunction": "replay-sweeper"}


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )


def log(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ YAML
class CfnLoader(yaml.SafeLoader):
    pass


class CfnDumper(yaml.SafeDumper):
    pass


class Tagged:
    """A CloudFormation short-form tag (!Ref, !Sub, ...) kept as it was."""

    def __init__(self, tag: str, node: yaml.Node) -> None:
        self.tag, self.node = tag, node


def _keep_tag(loader, suffix, node):
    return Tagged("!" + suffix, node)


CfnLoader.add_multi_constructor("!", _keep_tag)
CfnDumper.add_representer(Tagged, lambda dumper, t: _represent(dumper, t))


def _represent(dumper, t: Tagged):
    node = t.node
    if isinstance(node, yaml.ScalarNode):
        return dumper.represent_scalar(t.tag, node.value, style=node.style)
    if isinstance(node, yaml.SequenceNode):
        return yaml.SequenceNode(t.tag, node.value, flow_style=node.flow_style)
    return yaml.MappingNode(t.tag, node.value, flow_style=node.flow_style)


# ------------------------------------------------------------- packaging
def package(bin_dir: Path) -> Path:
    """The template with each function's CodeUri on a hot-reload folder of
    `bin_dir`'s binaries; written under .local/stack/, returned."""
    bin_dir = bin_dir.resolve()
    profile = hashlib.sha256(str(bin_dir).encode()).hexdigest()[:8]
    code_root = STATE / "lambda" / profile
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
    function_globals = template.get("Globals", {}).get("Function", {})
    for unsupported in ("AutoPublishAlias", "DeploymentPreference"):
        function_globals.pop(unsupported, None)
    for logical_id, binary in FUNCTIONS.items():
        built = bin_dir / binary
        if not built.is_file():
            raise SystemExit(f"{built} is missing: build the functions first (cargo build --workspace --bins)")
        folder = code_root / binary
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "bootstrap"
        if not link.is_symlink() or link.resolve() != built:
            # Tests deploy in parallel: a link made aside and renamed over the
            # old one is never seen half made, and two deploys do not collide.
            aside = folder / f".bootstrap.{os.getpid()}"
            aside.unlink(missing_ok=True)
            aside.symlink_to(built)
            os.replace(aside, link)
        template["Resources"][logical_id]["Properties"]["CodeUri"] = {"Bucket": HOT_RELOAD_BUCKET, "Key": str(folder)}
    out = STATE / "stack" / f"packaged-{profile}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.dump(template, Dumper=CfnDumper, sort_keys=False, width=120)
    if not out.exists() or out.read_text() != body:
        aside = out.with_name(f".{out.name}.{os.getpid()}")
        aside.write_text(body)
        os.replace(aside, out)
    return out


def template_url(packaged: Path) -> str:
    body = packaged.read_bytes()
    key = f"templates/{hashlib.sha256(body).hexdigest()}.yaml"
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=ARTIFACTS_BUCKET)
    except Exception:
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    try:
        s3.head_object(Bucket=ARTIFACTS_BUCKET, Key=key)
    except Exception:
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
    return f"{ENDPOINT}/{ARTIFACTS_BUCKET}/{key}"


# ------------------------------------------------------------ parameters
def samconfig_parameters(env: str = "local") -> dict[str, str]:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    overrides = config.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    if isinstance(overrides, str):
        overrides = overrides.split()
    return dict(item.split("=", 1) for item in overrides)


def put_secret(name: str, value: dict) -> str:
    sm = client("secretsmanager")
    try:
        return sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        return sm.describe_secret(SecretId=name)["ARN"]


def default_network() -> tuple[str, str]:
    ec2 = client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise SystemExit("LocalStack has no default VPC (is ec2 among its services?)")
    vpc = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    return (",".join(s["SubnetId"] for s in subnets[:2]), groups[0]["GroupId"])


def parameters_for(name: str, args) -> dict[str, str]:
    params = samconfig_parameters()
    subnets, group = default_network()
    params.setdefault("SubnetIds", subnets)
    params.setdefault("SecurityGroupIds", group)
    database_url = args.database_url or os.environ.get("DATABASE_URL")
    if not database_url:
        raise SystemExit("DATABASE_URL is not set (source infra/local/env.sh) and --database-url was not given")
    pepper = args.pepper or os.environ.get("API_KEY_PEPPER") or "local-dev-pepper-not-for-production"
    params["DatabaseSecretArn"] = put_secret(f"activity-replay/{name}/database", {"url": database_url})
    params["ApiKeyPepperSecretArn"] = put_secret(f"activity-replay/{name}/pepper", {"pepper": pepper})
    params.setdefault("DeliveryLogTopic", os.environ.get("DELIVERY_LOG_TOPIC", "delivery_log"))
    for item in args.param or []:
        key, _, value = item.partition("=")
        params[key] = value
    return params


# ---------------------------------------------------------------- deploy
def stack_status(cf, name: str) -> str | None:
    try:
        return cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cf.exceptions.ClientError:
        return None


def wait_for(cf, name: str, timeout: float = 300) -> str:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = stack_status(cf, name) or "DELETE_COMPLETE"
        if not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(0.5)
    raise SystemExit(f"stack {name} still in progress after {timeout:.0f} s")


def failure_reasons(cf, name: str) -> list[str]:
    events = cf.describe_stack_events(StackName=name).get("StackEvents", [])
    return [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("_FAILED")
    ][:10]


def deploy(args) -> dict:
    cf = client("cloudformation")
    name = args.name
    started = time.monotonic()
    packaged = package(Path(args.bin_dir))
    params = parameters_for(name, args)
    status = stack_status(cf, name)
    if status in ("ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED"):
        log(f"{name} is {status}: deleting it first")
        cf.delete_stack(StackName=name)
        wait_for(cf, name)
        status = None
    change_type = "CREATE" if status is None else "UPDATE"
    change_set = f"deploy-{int(time.time() * 1000)}"
    cf.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType=change_type,
        TemplateURL=template_url(packaged),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    while True:
        cs = cf.describe_change_set(StackName=name, ChangeSetName=change_set)
        if cs["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        time.sleep(0.3)
    if cs["Status"] == "FAILED":
        reason = cs.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason or not cs.get("Changes"):
            log(f"{name}: no changes")
            return outputs(name)
        raise SystemExit(f"change set of {name} failed: {reason}")
    cf.execute_change_set(StackName=name, ChangeSetName=change_set)
    final = wait_for(cf, name)
    if final not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reasons = "\n  ".join(failure_reasons(cf, name))
        raise SystemExit(f"stack {name} ended {final}:\n  {reasons}")
    log(f"{name}: {final} in {time.monotonic() - started:.1f} s")
    return outputs(name)


def outputs(name: str) -> dict:
    cf = client("cloudformation")
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    out = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    stage = params.get("ApiStageName", "prod")
    # LocalStack serves a REST API stage at /_aws/execute-api/<id>/<stage>.
    out["LocalApiUrl"] = f"{ENDPOINT}/_aws/execute-api/{out['RestApiId']}/{stage}"
    out["StackName"] = name
    out["StackStatus"] = stack["StackStatus"]
    path = STATE / "stack" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    return out


def delete(args) -> None:
    cf = client("cloudformation")
    if stack_status(cf, args.name) is None:
        return
    cf.delete_stack(StackName=args.name)
    if not args.no_wait:
        wait_for(cf, args.name)
    sm = client("secretsmanager")
    for kind in ("database", "pepper"):
        try:
            sm.delete_secret(SecretId=f"activity-replay/{args.name}/{kind}", ForceDeleteWithoutRecovery=True)
        except Exception:
            pass
    (STATE / "stack" / f"{args.name}.json").unlink(missing_ok=True)


def processes(function: str | None = None) -> list[dict]:
    url = f"{ENDPOINT}/_host_executor/processes" + (f"?function={function}" if function else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["environments"]


def status() -> int:
    cf = client("cloudformation")
    stacks = [
        s for s in cf.describe_stacks().get("Stacks", []) if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    envs = processes()
    for s in stacks:
        print(f"stack {s['StackName']:<40} {s['StackStatus']}")
        resources = cf.describe_stack_resources(StackName=s["StackName"])["StackResources"]
        for r in resources:
            if r["ResourceType"] != "AWS::Lambda::Function":
                continue
            mine = [e for e in envs if e["function_name"] == r["PhysicalResourceId"]]
            pids = ", ".join(f"pid {e['pid']} ({e['invocations']} invocations)" for e in mine if e["pid"]) or "idle"
            print(f"  function {r['PhysicalResourceId']:<48} {pids}")
    if not stacks:
        print("no stacks deployed")
    return 0


def invoke(function: str, payload: str) -> dict:
    lam = client("lambda")
    out = lam.invoke(FunctionName=function, Payload=payload.encode())
    return {
        "StatusCode": out["StatusCode"],
        "FunctionError": out.get("FunctionError"),
        "Payload": json.loads(out["Payload"].read() or b"null"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("deploy")
    d.add_argument("--name", default="activity-replay-local")
    d.add_argument("--bin-dir", default=str(REPO / "target" / "debug"))
    d.add_argument("--param", action="append", help="Key=Value, over samconfig.toml's local parameters")
    d.add_argument("--database-url")
    d.add_argument("--pepper")
    x = sub.add_parser("delete")
    x.add_argument("--name", default="activity-replay-local")
    x.add_argument("--no-wait", action="store_true")
    o = sub.add_parser("outputs")
    o.add_argument("--name", default="activity-replay-local")
    sub.add_parser("status")
    p = sub.add_parser("processes")
    p.add_argument("--function")
    i = sub.add_parser("invoke")
    i.add_argument("--function", required=True)
    i.add_argument("--payload", default="{}")
    args = parser.parse_args()
    if args.command == "deploy":
        print(json.dumps(deploy(args), indent=2))
    elif args.command == "delete":
        delete(args)
    elif args.command == "outputs":
        print(json.dumps(outputs(args.name), indent=2))
    elif args.command == "status":
        return status()
    elif args.command == "processes":
        print(json.dumps(processes(args.function), indent=2))
    elif args.command == "invoke":
        print(json.dumps(invoke(args.function, args.payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
