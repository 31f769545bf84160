"""Showcase: routing flow runs to agents with labels (Prefect 0.14 - 1.x).

In the classic model, agents poll the backend for scheduled runs and
*labels* decide who gets what. This demo builds the real configuration
objects and applies the backend's matching rule to them, no backend needed.

Where a run's labels come from, first match wins (Prefect Server,
``create_flow_run``): labels given when the run is created; else the flow
group's labels (set in the UI); else the flow's ``run_config.labels``. And
``flow.register()`` adds the *storage's* default labels to the run config:
``Local`` storage adds this machine's hostname, because a pickle on this
disk can only be loaded here (``add_default_labels=False`` turns it off).

Where an agent's labels come from: ``--label`` options / ``labels=[...]``,
plus, for the Local agent, its hostname (``hostname_label=True``, the
default), so that it can run hostname-labelled Local-storage flows.

The rule (Prefect Server's ``get_runs_in_queue``, which agents call):
  1. every label of the run must be among the agent's labels, and
  2. a run with *no* labels only goes to an agent with *no* labels.
So labels on a run are requirements, labels on an agent are capabilities.

The demo computes each flow's registered labels and each agent's labels
from the Prefect objects, prints the routing table and checks it. Running
real agents against a backend: labels_routing_agents_classic.py.
"""
import socket
import tempfile

from prefect import Flow, task
from prefect.agent.local import LocalAgent
from prefect.run_configs import DockerRun, KubernetesRun, LocalRun, UniversalRun
from prefect.storage import Docker, Local

HOST = socket.gethostname()


@task
def work():
    return 1


def make_flow(name, storage, run_config):
    with Flow(name) as f:
        work()
    f.storage, f.run_config = storage, run_config
    return f


def registered_labels(flow, extra=()):
    """The labels flow.register() stores: run config + storage defaults + register(labels=...)."""
    return set(flow.run_config.labels) | set(flow.storage.labels) | set(extra)


def run_labels(flow_labels, group_labels=None, create_labels=None):
    """The labels a new run gets: create_flow_run(labels=...) > flow group labels > the flow's."""
    if create_labels is not None:
        return set(create_labels)
    if group_labels is not None:
        return set(group_labels)
    return set(flow_labels)


def agent_picks(agent_labels, labels):
    """Prefect Server's rule: run labels within the agent's; unlabelled runs only to unlabelled agents."""
    if labels - set(agent_labels):
        return False
    if not labels and agent_labels:
        return False
    return True


def fail(message):
    raise SystemExit("labels_routing_classic: " + message)


def main():
    flows_dir = tempfile.mkdtemp()
    flows = {
        "local-etl": make_flow("local-etl", Local(directory=flows_dir), LocalRun(labels=["etl"])),
        "docker-report": make_flow("docker-report", Docker(image_name="report", image_tag="1"),
                                   DockerRun(labels=["docker"])),
        "k8s-train": make_flow("k8s-train", Docker(image_name="train", image_tag="1"),
                               KubernetesRun(labels=["k8s", "gpu"])),
        "anywhere": make_flow("anywhere", Docker(image_name="any", image_tag="1"), UniversalRun()),
    }
    flow_labels = {name: registered_labels(f) for name, f in flows.items()}
    expected_flow_labels = {"local-etl": {"etl", HOST}, "docker-report": {"docker"},
                            "k8s-train": {"k8s", "gpu"}, "anywhere": set()}
    if flow_labels != expected_flow_labels:
        fail("registered labels %r, expected %r" % (flow_labels, expected_flow_labels))

    agents = {
        "local (this host)": LocalAgent(labels=["etl"]).labels,  # adds the hostname itself
        "local, no hostname": LocalAgent(labels=["etl"], hostname_label=False).labels,
        "docker": ["docker"],
        "k8s gpu pool": ["k8s", "gpu", "prod"],
        "unlabelled": [],
    }
    if sorted(agents["local (this host)"]) != sorted(["etl", HOST]):
        fail("LocalAgent labels %r: expected the hostname to be added" % (agents["local (this host)"],))

    table = {(f, a): agent_picks(agent_labels, run_labels(flow_labels[f]))
             for f in flows for a, agent_labels in agents.items()}
    expected = {
        ("local-etl", "local (this host)"),  # needs etl + this host: only the local agent here has both
        ("docker-report", "docker"),
        ("k8s-train", "k8s gpu pool"),  # {k8s, gpu} within {k8s, gpu, prod}
        ("anywhere", "unlabelled"),  # no labels: only an agent without labels
    }
    picked = {pair for pair, ok in table.items() if ok}
    if picked != expected:
        fail("routing %r, expected %r" % (sorted(picked), sorted(expected)))

    width = max(len(a) for a in agents)
    print("%-14s %s" % ("flow", "  ".join(a.ljust(width) for a in agents)))
    for f in flows:
        print("%-14s %s" % (f, "  ".join(("picks" if table[(f, a)] else "-").ljust(width) for a in agents)))

    # Overrides at run time: labels on create_flow_run beat the flow's own.
    special = run_labels(flow_labels["k8s-train"], create_labels=["docker"])
    if not agent_picks(agents["docker"], special) or agent_picks(agents["k8s gpu pool"], special):
        fail("a run created with labels=['docker'] should go to the docker agent only")
    group = run_labels(flow_labels["local-etl"], group_labels=["etl"])
    if not agent_picks(agents["local, no hostname"], group):
        fail("flow group labels {'etl'} should let any etl agent pick the run")
    print("create_flow_run(labels=['docker']) sends a k8s-train run to the docker agent;")
    print("flow group labels ['etl'] (set in the UI) free local-etl from its hostname label")
    print("labels_routing_classic: ok")


if __name__ == "__main__":
    main()
