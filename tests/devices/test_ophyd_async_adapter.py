"""The ophyd-async internals ionrig relies on (``ionrig.devices._ophyd_async_adapter``).

The version check fails on any other minor version of ophyd-async: on an upgrade, re-check each
adapter function against the new ophyd-async, then move ``OPHYD_ASYNC_CHECKED_VERSION``. The
shape checks say which internal went missing; the behavioural checks that the adapter still
does what its callers expect.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

import ophyd_async
import pytest
from bluesky.run_engine import call_in_bluesky_event_loop
from ophyd_async.core import (
    Device,
    StandardDetector,
    StaticPathProvider,
    TriggerInfo,
    UUIDFilenameProvider,
    WatcherUpdate,
    init_devices,
)

from ionrig.devices import Camera
from ionrig.devices._ophyd_async_adapter import (
    OPHYD_ASYNC_CHECKED_VERSION,
    prepared_streamable_data_providers,
    set_own_name,
    standard_complete_updates,
    standard_trigger_updates,
)


@pytest.fixture
def camera(RE, tmp_path, world, camera_driver):
    with init_devices():
        camera = Camera(
            camera_driver,
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=world.clock.now_s,
            exposure_ms=10.0,
        )
    world.excitation_nm, world.shutter_open = 380, True
    return camera


# -- the version the internals were checked against ------------------------------------------


def test_the_installed_ophyd_async_is_the_checked_minor_version():
    major_minor = ".".join(ophyd_async.__version__.split(".")[:2])
    assert major_minor == OPHYD_ASYNC_CHECKED_VERSION == "0.21", (
        f"ophyd-async {ophyd_async.__version__}: re-check every function of "
        "ionrig.devices._ophyd_async_adapter against it, then update the checked version"
    )


# -- each internal is there, with the shape the adapter expects -------------------------------


def test_standard_detector_keeps_its_prepare_context_with_stream_providers():
    assert "_prepare_ctx" in vars(StandardDetector)
    assert StandardDetector._prepare_ctx is None  # the default before any prepare
    context_type = inspect.get_annotations(StandardDetector, eval_str=True)["_prepare_ctx"]
    (context_class,) = [c for c in context_type.__args__ if c is not type(None)]
    assert dataclasses.is_dataclass(context_class)
    assert "streamable_data_providers" in {f.name for f in dataclasses.fields(context_class)}


@pytest.mark.parametrize("method", ["trigger", "complete"])
def test_standard_detector_trigger_and_complete_keep_their_undecorated_generators(method):
    wrapped = getattr(StandardDetector, method).__wrapped__
    assert inspect.isasyncgenfunction(wrapped)
    assert wrapped.__qualname__ == f"StandardDetector.{method}"


def test_device_name_is_private_name_and_its_log_a_cached_property():
    assert Device._name == ""
    assert isinstance(vars(Device)["log"], functools.cached_property)
    device = Device()
    device._name = "renamed"
    assert device.name == "renamed"


# -- each adapter function does what its callers expect ---------------------------------------


def test_set_own_name_renames_the_device_not_its_children():
    device = Device()
    device.child = Device()
    device.set_name("rig")
    assert device.child.name == "rig-child"
    assert device.log.extra["ophyd_async_device_name"] == "rig"
    set_own_name(device, "bench")
    assert device.name == "bench" and device.child.name == "rig-child"
    assert device.log.extra["ophyd_async_device_name"] == "bench"  # a new logger, new name


def test_prepared_streamable_data_providers_are_none_before_prepare_then_the_file(camera):
    async def providers_before_and_after_prepare():
        await camera.stage()
        before = prepared_streamable_data_providers(camera)
        await camera.prepare(TriggerInfo())
        after = prepared_streamable_data_providers(camera)
        await camera.unstage()
        return before, after

    before, after = call_in_bluesky_event_loop(providers_before_and_after_prepare())
    assert list(before) == []
    assert len(after) == 1 and after[0].last_emitted == 0  # no StreamDatum emitted yet


def test_standard_trigger_updates_take_one_frame(camera):
    async def trigger_once():
        await camera.stage()
        updates = [update async for update in standard_trigger_updates(camera)]
        written = await camera.frames_written.get_value()
        await camera.unstage()
        return updates, written

    updates, written = call_in_bluesky_event_loop(trigger_once())
    assert written == 1
    assert updates and all(isinstance(u, WatcherUpdate) for u in updates)
    assert updates[-1].current == updates[-1].target == 1


def test_standard_complete_updates_wait_for_a_fly_scans_frames(camera):
    async def fly_three_frames():
        await camera.stage()
        await camera.prepare(TriggerInfo(number_of_events=3))
        await camera.kickoff()
        updates = [update async for update in standard_complete_updates(camera)]
        written = await camera.frames_written.get_value()
        await camera.unstage()
        return updates, written

    updates, written = call_in_bluesky_event_loop(fly_three_frames())
    assert written == 3
    assert updates[-1].current == updates[-1].target == 3
