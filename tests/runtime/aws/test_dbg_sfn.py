import json, time
from tests.runtime.aws.test_state_machines import _register
from tests.runtime.aws.conftest import *  # noqa
def test_dbg(deployment, aws_backends, sandbox_admin, new_instance):
    local, sfn = aws_backends
    t = new_instance("dbg")
    _register(sfn, sandbox_admin, {t: "connectwise"})
    arn = deployment.start({})
    t0 = time.monotonic()
    while time.monotonic() - t0 < 40:
        d = deployment.sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING": break
        time.sleep(1)
    print("STATUS", d["status"], time.monotonic() - t0, d.get("output"), d.get("error"), d.get("cause"))
    print("CALLS", [(r, e.get("action")) for r, e in deployment.invocations.calls][:60])
    print("ERRORS", deployment.invocations.errors)
    for name in ("TenantProcessor", "TableProcessor"):
        for e in deployment.executions(name):
            print(name, e["name"], e["status"])
    h = deployment.sfn.get_execution_history(executionArn=arn)["events"]
    for ev in h[-8:]:
        print(ev["type"], json.dumps({k: v for k, v in ev.items() if k.endswith("Details")}, default=str)[:600])
