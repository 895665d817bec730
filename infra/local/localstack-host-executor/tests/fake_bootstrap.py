#!/usr/bin/env python3
"""A Lambda custom runtime in a few lines, for the executor's unit tests: it
asks the Runtime API for work and does what each payload says."""
import json
import os
import sys
import time
import urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = f"http://{api}/2018-06-01/runtime"

if os.environ.get("FAKE_INIT") == "error":
    req = urllib.request.Request(f"{base}/init/error", data=b'{"errorType":"Init","errorMessage":"bad config"}',
                                 method="POST", headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Init"})
    urllib.request.urlopen(req)
    sys.exit(1)
if os.environ.get("FAKE_INIT") == "exit":
    sys.exit(3)

print("init done", flush=True)
kept = []
while True:
    with urllib.request.urlopen(f"{base}/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(r.headers["Lambda-Runtime-Deadline-Ms"])
        event = json.loads(r.read() or b"{}")
    action = event.get("action", "echo")
    print(f"handling {action}", flush=True)
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "chatter":
        # One write, then the response at once.
        sys.stdout.write("".join(f"line {i}\n" for i in range(event["lines"])))
        sys.stdout.flush()
    elif action == "crash":
        os._exit(7)
    elif action == "alloc":
        kept.append(bytearray(event["mb"] * 1024 * 1024))
        time.sleep(0.5)
    if action == "error":
        body, kind = json.dumps({"errorType": "Boom", "errorMessage": "it failed"}).encode(), "error"
    else:
        body = json.dumps({"pid": os.getpid(), "deadline_ms": deadline, "event": event,
                           "env": {k: os.environ.get(k) for k in ("LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL", "MY_SETTING")}}).encode()
        kind = "response"
    req = urllib.request.Request(f"{base}/invocation/{request_id}/{kind}", data=body, method="POST")
    urllib.request.urlopen(req).read()
