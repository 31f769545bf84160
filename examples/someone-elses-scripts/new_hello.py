"""A Prefect 2.x/3.x script as someone else wrote it: runs a flow, then asks the API what ran."""
import asyncio

from prefect import flow, get_client


@flow
def hello(name: str = "world") -> str:
    return f"hello, {name}"


async def recorded_runs() -> int:
    async with get_client() as client:
        return len(await client.read_flow_runs())


if __name__ == "__main__":
    assert hello() == "hello, world"
    runs = asyncio.run(recorded_runs())
    assert runs >= 1, runs
    print("flow runs the API recorded:", runs)
