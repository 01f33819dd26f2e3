"""The callback guard: nothing a camera sends makes a callback raise; each rejected message is counted once.

Unit checks of guard.py, then a property test (hypothesis) that feeds arbitrary Image messages to the real
FusionNode's subscription callback in this process (the callback rclpy would call, guard included).
"""

from __future__ import annotations

import time

import pytest
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ros_helpers import node_test_model, ros_arguments, unique_domain_id
from sensor_msgs.msg import Image

from fusionvae_ros.guard import CallbackGuard, RejectedInputError
from fusionvae_ros.image_codec import INPUT_FORMATS
from fusionvae_ros.pipeline import stamp_nanoseconds

MAX_IMAGE_PIXELS = 64 * 64
FUTURE_TOLERANCE, MAX_AGE = 0.5, 5.0
#: Reasons for which the view callback itself refuses a message (the synchroniser's sync_* reasons come later).
REJECTIONS = ("stamp_invalid", "stamp_future", "stamp_old", "encoding", "zero_size", "too_large", "step", "data_length")


def test_stamp_nanoseconds_accepts_valid_stamps_and_rejects_negative_or_out_of_range_ones():
    assert stamp_nanoseconds(TimeMsg(sec=3, nanosec=999_999_999)) == 3_999_999_999
    assert stamp_nanoseconds(TimeMsg(sec=0, nanosec=0)) == 0
    for bad in (TimeMsg(sec=-1, nanosec=0), TimeMsg(sec=-(2**31), nanosec=5), TimeMsg(sec=1, nanosec=10**9)):
        with pytest.raises(RejectedInputError) as rejected:
            stamp_nanoseconds(bad)
        assert rejected.value.reason == "stamp_invalid"


def test_guard_counts_rejections_under_their_reason_and_errors_under_the_callbacks():
    drops: list[tuple[str, str]] = []
    guard = CallbackGuard(lambda reason, detail: drops.append((reason, detail)))

    def callback(kind: str) -> None:
        if kind == "rejected":
            raise RejectedInputError("encoding", "unsupported encoding 'x'")
        if kind == "bug":
            raise KeyError("oops")

    guarded = guard.wrap("view_error", callback, "camera 0 (cam0)")
    for kind in ("fine", "rejected", "bug"):
        assert guarded(kind) is None
    assert drops == [
        ("encoding", "camera 0 (cam0): unsupported encoding 'x'"),
        ("view_error", "camera 0 (cam0): KeyError: 'oops'"),
    ]


def test_guard_survives_a_failing_drop_report(capsys):
    def broken_drop(reason: str, detail: str) -> None:
        raise RuntimeError("context shut down")

    CallbackGuard(broken_drop).wrap("sync_error", lambda: 1 / 0)()
    assert "dropped (sync_error): ZeroDivisionError" in capsys.readouterr().err


def test_keyboard_interrupt_is_not_swallowed():
    guard = CallbackGuard(lambda reason, detail: None)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guard.wrap("view_error", interrupted)()


@pytest.fixture(scope="module")
def view_callback():
    """The real node's guarded view callback for its single camera, and the node (in this process, not spun)."""
    model = node_test_model()
    parameters = {
        "camera_topics": ["cam0/image"],
        "model_path": str(model.path),
        "max_image_pixels": MAX_IMAGE_PIXELS,
        "future_tolerance": FUTURE_TOLERANCE,
        "max_age": MAX_AGE,
    }
    rclpy.init(args=ros_arguments(parameters), domain_id=unique_domain_id())
    from fusionvae_ros.fusion_node import FusionNode

    node = FusionNode(managed=False)
    node.start()
    (subscription,) = (sub for sub in node.subscriptions if sub.msg_type is Image)  # not the camera_info one
    yield subscription.callback, node
    node.destroy_node()
    rclpy.try_shutdown()


# A stamp as (kind, sec, nanosec): "relative" stamps are seconds from now, filled in when the message is sent.
# Offsets stay clear of the tolerances so that the time between building and handling cannot change the verdict.
STAMPS = st.one_of(
    st.tuples(st.just("absolute"), st.integers(-(2**31), -1), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("absolute"), st.integers(0, 2**31 - 1), st.integers(10**9, 2**32 - 1)),
    st.tuples(st.just("absolute"), st.just(2**31 - 1), st.integers(0, 10**9 - 1)),
    st.tuples(st.just("relative"), st.floats(-MAX_AGE + 1, FUTURE_TOLERANCE - 0.3), st.just(0)),
    st.tuples(st.just("relative"), st.floats(-10 * MAX_AGE, -MAX_AGE - 1), st.just(0)),
    st.tuples(st.just("relative"), st.floats(FUTURE_TOLERANCE + 1, 1e6), st.just(0)),
)
ENCODINGS = st.one_of(st.sampled_from(sorted(INPUT_FORMATS)), st.text(max_size=12))


@st.composite
def images(draw) -> tuple[Image, tuple]:
    """An Image with arbitrary (often inconsistent) encoding, size, step and data length, and its stamp spec."""
    encoding = draw(ENCODINGS)
    width, height = draw(st.integers(0, 80)), draw(st.integers(0, 80))
    pixel_format = INPUT_FORMATS.get(encoding)
    row = width * pixel_format.channels * pixel_format.bits // 8 if pixel_format else width
    step = draw(st.one_of(st.just(row), st.integers(row, row + 9), st.integers(0, 4 * 80 * 2 + 9)))
    length = max(0, step * height + draw(st.sampled_from([0, 0, 0, -1, 1, -step, 7])))
    msg = Image(
        width=width,
        height=height,
        encoding=encoding,
        step=step,
        is_bigendian=draw(st.integers(0, 1)),
        data=bytes(length),
    )
    return msg, draw(STAMPS)


def expected_rejection(msg: Image, sec: int, nanosec: int, now_ns: int) -> str | None:
    """The one reason the node must give for refusing ``msg`` (its checks in order), None if it must accept it."""
    if sec < 0 or nanosec >= 10**9:
        return "stamp_invalid"
    offset_s = (sec * 10**9 + nanosec - now_ns) / 1e9
    if offset_s > FUTURE_TOLERANCE:
        return "stamp_future"
    if -offset_s > MAX_AGE:
        return "stamp_old"
    pixel_format = INPUT_FORMATS.get(msg.encoding)
    if pixel_format is None:
        return "encoding"
    if msg.width == 0 or msg.height == 0:
        return "zero_size"
    if msg.width * msg.height > MAX_IMAGE_PIXELS:
        return "too_large"
    sample_bytes = pixel_format.bits // 8
    if msg.step < msg.width * pixel_format.channels * sample_bytes or msg.step % sample_bytes:
        return "step"
    if len(msg.data) != msg.step * msg.height:
        return "data_length"
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=images())
def test_view_callback_never_raises_and_counts_each_rejected_message_once(view_callback, message):
    callback, node = view_callback
    msg, (kind, sec, nanosec) = message
    now_ns = time.time_ns()
    if kind == "relative":
        sec, nanosec = divmod(now_ns + round(sec * 1e9), 10**9)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    before = node.stats.drops()
    callback(msg)  # must not raise, whatever the message
    after = node.stats.drops()
    changed = {reason: after[reason] - before.get(reason, 0) for reason in after if after[reason] != before.get(reason)}
    changed.pop("inference_busy", None)  # earlier accepted sets evicted by the worker: not about this message
    assert not {reason for reason in changed if reason.endswith("_error")}, f"a callback failed: {changed}"
    reason = expected_rejection(msg, sec, nanosec, now_ns)
    if reason is not None:
        assert changed == {reason: 1}
    else:  # accepted; the synchroniser may still drop it once (older than a set it already emitted)
        assert sum(changed.values()) <= 1 and all(name.startswith("sync_") for name in changed), changed
