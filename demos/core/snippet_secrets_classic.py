"""Snippet: secrets from the environment (Prefect "Core" API).

What this shows:
- Without a backend, secrets are *local*: Prefect reads them from its
  context, which is filled from ``PREFECT__CONTEXT__SECRETS__<NAME>``
  environment variables (or ``[context.secrets]`` in the user's
  config.toml) when Prefect is imported -- so the demo sets them first.
  With a backend (and ``cloud.use_local_secrets = false``) the same names are
  looked up in Prefect Cloud instead; the flow code does not change.
- ``PrefectSecret("NAME")`` (0.11+) is a task returning the value at run
  time (its result is never checkpointed); ``Secret("NAME").get()`` (from
  ``prefect.client``) does the same inside any task. Values that parse as
  JSON come back parsed (a dict here).
- ``EnvVarSecret("VAR")`` reads any environment variable at run time.
- A missing local secret fails the task with 'Local Secret "X" was not found'.

The demo never prints a secret's value; it checks what the tasks received.
"""
import os

os.environ["PREFECT__CONTEXT__SECRETS__WAREHOUSE_PASSWORD"] = "demo-not-a-real-password"
os.environ["PREFECT__CONTEXT__SECRETS__WAREHOUSE_CONFIG"] = '{"host": "db.internal", "port": 5432}'
os.environ["SALES_API_TOKEN"] = "demo-token-123"

from prefect import Flow, task  # noqa: E402
from prefect.client import Secret  # noqa: E402
from prefect.tasks.secrets import EnvVarSecret, PrefectSecret  # noqa: E402


@task
def connect(password, config, token):
    # What a real task would pass to a database driver / an HTTP client.
    return {
        "dsn": "postgresql://loader@%s:%d/sales" % (config["host"], config["port"]),
        "password_ok": password == "demo-not-a-real-password",
        "token_ok": token == "demo-token-123",
        # The same secret, fetched with the client API inside a task.
        "same_via_client": Secret("WAREHOUSE_PASSWORD").get() == password,
    }


with Flow("snippet-secrets-classic") as flow:
    password = PrefectSecret("WAREHOUSE_PASSWORD")
    config = PrefectSecret("WAREHOUSE_CONFIG")
    token = EnvVarSecret("SALES_API_TOKEN")
    connection = connect(password, config, token)

# A task that nothing consumes must be added explicitly.
missing = flow.add_task(PrefectSecret("NOT_CONFIGURED"))


def fail(message):
    raise SystemExit("snippet_secrets_classic: " + message)


def main():
    if password.checkpoint is not False:
        fail("PrefectSecret results should never be checkpointed")
    print("a missing secret is meant to fail (an error is expected)")
    state = flow.run()

    result = state.result[connection].result
    expected = {"dsn": "postgresql://loader@db.internal:5432/sales",
                "password_ok": True, "token_ok": True, "same_via_client": True}
    if not state.result[connection].is_successful() or result != expected:
        fail("connect received %r, expected %r" % (result, expected))
    if not isinstance(state.result[config].result, dict):
        fail("a JSON secret should come back parsed, got %r" % (type(state.result[config].result),))

    missing_state = state.result[missing]
    if not missing_state.is_failed() or "NOT_CONFIGURED" not in str(missing_state.result):
        fail("the missing secret should fail its task: %r" % (missing_state,))
    print("connect got %s (password and token matched; values not shown)" % result["dsn"])
    print("missing secret: %s" % missing_state.result)
    print("snippet_secrets_classic: ok")


if __name__ == "__main__":
    main()
