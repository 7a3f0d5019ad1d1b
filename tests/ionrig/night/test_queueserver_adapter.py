"""The bluesky-queueserver-api internals ionrig.night.queueserver_adapter relies on: the pinned
minor version is installed and a closed ``REManagerAPI`` still holds its zmq contexts where the
adapter looks. A new minor version fails here first."""

from importlib.metadata import version

from bluesky_queueserver_api.zmq import REManagerAPI

from ionrig.night.queueserver_adapter import PINNED_MINOR, close_manager_api, zmq_contexts_of


def test_the_installed_bluesky_queueserver_api_is_the_pinned_minor():
    installed = version("bluesky-queueserver-api")
    assert installed.split(".")[:2] == PINNED_MINOR.split("."), (
        f"bluesky-queueserver-api {installed} is installed; ionrig.night.queueserver_adapter "
        f"was checked against {PINNED_MINOR}.x: check it, then update PINNED_MINOR"
    )


def test_the_clients_zmq_contexts_are_found_and_destroyed():
    api = REManagerAPI(
        zmq_control_addr="tcp://127.0.0.1:9",
        zmq_info_addr="tcp://127.0.0.1:9",
        timeout_recv=1.0,
        timeout_send=1.0,
    )
    api.close()
    contexts = zmq_contexts_of(api)  # what close() leaves for the garbage collector
    assert contexts, "REManagerAPI no longer keeps its zmq contexts where the adapter looks"
    assert not all(context.closed for context in contexts)
    close_manager_api(api)  # a second close is harmless; the contexts go
    assert all(context.closed for context in contexts)
