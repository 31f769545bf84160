"""Snippet: secrets from the environment and from a Secret block, 2.x/3.x.

Two honest ways for a flow to get a credential:

- **Environment variables.** The process that runs the flow (a worker's
  job, a container, CI) is given the variable; the flow reads
  ``os.environ``. Nothing is stored in Prefect. Simple, and the usual
  choice when the platform already manages secrets.
- **A Secret block.** ``Secret(value=...).save("name")`` stores the value on
  the Prefect API (encrypted at rest by the server); any flow that can reach
  the API loads it by name: ``Secret.load("name").get()``. The field is a
  pydantic ``SecretStr``, so printing or logging the block shows
  ``**********`` and the plain text needs ``.get()`` (or
  ``block.value.get_secret_value()``). Rotating it means saving the block
  again; flows pick up the new value on their next load.
- Classic 1.x: ``PrefectSecret("NAME")`` tasks, read from
  ``PREFECT__CONTEXT__SECRETS__NAME`` locally or from Cloud.

This demo never uses a real credential: it makes up a random token, puts it
in an environment variable of its own process (as a platform would) and
into a Secret block on the env's API server, then checks that the flow
gets the same value both ways, that the value does not show in the block's
repr, and that a rotated value is seen on the next load.
"""
import hashlib
import os
import uuid

from prefect import flow, task
from prefect.blocks.system import Secret

TOKEN = uuid.uuid4().hex[:8]
BLOCK_NAME = "warehouse-password-" + TOKEN
ENV_VAR = "DEMO_WAREHOUSE_PASSWORD"


def fingerprint(value):
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@task
def connect(password, source):
    # A real task would open a connection. This one returns a fingerprint of
    # what it got, never the value: return values may be persisted.
    return {"source": source, "fingerprint": fingerprint(password)}


@flow(name="secrets-demo")
def secrets_demo(block_name):
    from_env = connect(os.environ[ENV_VAR], "env")

    block = Secret.load(block_name)
    shown = repr(block)  # what a careless log line would show
    from_block = connect(block.get(), "block")
    return from_env, from_block, shown, fingerprint(block.value.get_secret_value())


def fail(message):
    raise SystemExit("snippet_secrets_modern: " + message)


def main():
    made_up = "pw-" + uuid.uuid4().hex  # stands in for a real password
    os.environ[ENV_VAR] = made_up  # what the platform would set
    Secret(value=made_up).save(BLOCK_NAME)

    from_env, from_block, shown, raw = secrets_demo(BLOCK_NAME)
    if from_env["fingerprint"] != fingerprint(made_up):
        fail("the environment variable gave the flow the wrong value")
    if from_block["fingerprint"] != fingerprint(made_up) or raw != fingerprint(made_up):
        fail("the Secret block gave the flow the wrong value")
    if made_up in shown:
        fail("the secret's value shows in the block's repr: %s" % shown)
    print("env var and Secret block agree (%d characters); repr shows %s"
          % (len(made_up), shown))

    # Rotate: save a new value under the same name; the next load sees it.
    rotated = "pw-" + uuid.uuid4().hex
    Secret(value=rotated).save(BLOCK_NAME, overwrite=True)
    if Secret.load(BLOCK_NAME).get() != rotated:
        fail("after rotation the block still returns the old value")
    print("rotated: the next load returns the new value")
    print("snippet_secrets_modern: ok")


if __name__ == "__main__":
    main()
