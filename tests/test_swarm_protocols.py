"""The swarm's lean parsers: a run read at once is counted exactly as message by message."""

from __future__ import annotations

import pytest

from benchmarks.scale.swarm_protocols import WebSocket, short_text_frames_end
from benchmarks.scale.swarm_recorder import Recorder
from lab.hub import Message
from lab.transports.websocket import encode_frame

START_US, END_US = 1_000, 2_000


def counts(seqs: list[int], times: list[int], *, batched: bool, warm: bool) -> tuple:
    """Everything the recorder and one untimed connection hold after ``seqs`` arrive."""
    rec = Recorder(clients=1, max_samples=10, seed=1)
    rec.open_window(START_US, END_US)
    conn = WebSocket(0, "h", rec)
    conn.timed = False
    if warm:  # already saw seq 9 before the window
        rec.record(conn, 9, 0, 0)
    found = [(str(s).encode(), str(t).encode()) for s, t in zip(seqs, times, strict=True)]
    if batched:
        rec.record_run(conn, found, 5_000)
    else:
        for seq, t_us in zip(seqs, times, strict=True):
            rec.record(conn, seq, t_us, 5_000)
    return (conn.last_seq, conn.delivered, conn.gaps, conn.duplicates, conn.ready,
            conn.finished, rec.delivered, rec.ready, rec.finished)


@pytest.mark.parametrize(
    ("seqs", "times"),
    [
        pytest.param([10, 11, 12], [1_100, 1_200, 1_300], id="inside-the-window"),
        pytest.param([10, 11], [100, 200], id="before-the-window"),
        pytest.param([10, 11, 12], [900, 1_000, 1_100], id="across-the-start"),
        pytest.param([10, 11, 12], [1_900, 2_000, 2_100], id="across-the-end"),
        pytest.param([10, 12, 13], [1_100, 1_200, 1_300], id="gap"),
        pytest.param([10, 10, 11], [1_100, 1_100, 1_200], id="duplicate"),
        pytest.param([10, 12, 11], [1_100, 1_300, 1_200], id="out-of-order"),
        pytest.param([11, 12], [1_100, 1_200], id="gap-before-the-run"),
    ],
)
@pytest.mark.parametrize("warm", [True, False], ids=["ready", "first-messages"])
def test_a_run_counts_as_its_messages_one_by_one(seqs: list[int], times: list[int], warm: bool,
                                                 ) -> None:
    """Gaps, duplicates, window edges and readiness come out the same either way."""
    assert counts(seqs, times, batched=True, warm=warm) == counts(seqs, times, batched=False,
                                                                 warm=warm)


def test_untimed_websocket_reads_whole_short_text_frames_only() -> None:
    """Complete frames are scanned in one pass; a partial one waits; anything else is refused."""
    frames = [encode_frame(Message.build("prices", seq, 1_500, {"p": 1}).json) for seq in (1, 2)]
    data = frames[0] + frames[1][:5]
    assert short_text_frames_end(data) == len(frames[0])
    assert short_text_frames_end(b"\x89\x00" + frames[0]) == -1  # a ping: the full parser
    assert short_text_frames_end(b"\x81\x7e\x00\x80" + b"x" * 128) == -1  # a long frame

    rec = Recorder(clients=1, max_samples=10, seed=1)
    rec.open_window(1_000, 2_000)
    conn = WebSocket(0, "h", rec)
    conn.timed, conn.head_done = False, True
    conn.body(data)
    conn.body(frames[1][5:])
    assert (conn.last_seq, conn.delivered, conn.gaps, rec.delivered) == (2, 2, 0, 2)
