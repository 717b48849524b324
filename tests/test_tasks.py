"""Tasks: targets of hand-computed trials, masks, the three multitask modes, seeds, errors."""

import numpy as np
import pytest

from lowrank import RNN
from lowrank import tasks as T
from lowrank.turner2023 import data_dir, missing_data_message

F, X = False, True  # readable masks


def trial(*channels):
    """One trial (1, time, channels) from per-channel lists."""
    return np.array(channels, dtype=float).T[None]


def test_flipflop_holds_the_last_pulse_and_skips_pulses():
    task = T.flipflop(1, steps=12, pulse=2)
    x = trial([1, 1, 0, 0, 0, -1, -1, 0, 0, 1, 1, 0])
    y, mask = task.targets(x)
    assert y[0, :, 0].tolist() == [0, 0, 1, 1, 1, 0, 0, -1, -1, 0, 0, 1]
    assert mask[0, :, 0].tolist() == [F, F, X, X, X, F, F, X, X, F, F, X]
    assert y.dtype == np.float32 and mask.dtype == bool


def test_flipflop_bits_are_independent_memories():
    task = T.flipflop(2, steps=8, pulse=2)
    x = trial([1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, -1, -1, 0, 0, 0])
    y, mask = task.targets(x)
    assert y[0, :, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert mask[0, :, 0].tolist() == [
        F,
        F,
        X,
        X,
        X,
        X,
        X,
        X,
    ]  # bit 0 is scored during bit 1's pulse
    assert y[0, :, 1].tolist() == [0, 0, 0, 0, 0, -1, -1, -1]
    assert mask[0, :, 1].tolist() == [F, F, F, F, F, X, X, X]


def test_cycle_oscillates_around_the_pulse_value():
    task = T.cycle(steps=7, pulse=2, amplitude=0.5, period=4.0)
    y, mask = task.targets(trial([-1, -1, 0, 0, 0, 0, 0]))
    np.testing.assert_allclose(y[0, 2:, 0], [-1, -0.5, -1, -1.5, -1], atol=1e-7)
    assert mask[0, :, 0].tolist() == [F, F, X, X, X, X, X]


def test_cycle_defaults_are_turner_barak():
    # 0.5 sin(4 pi linspace(0, 1, 40)) repeated without its duplicated end point: period 19.5 steps
    y, _ = T.cycle(steps=60).targets(trial([1] * 5 + [0] * 55))
    seq = 0.5 * np.sin(4 * np.pi * np.linspace(0, 1, 40))
    reference = np.concatenate([seq, seq[1:]])[:55] + 1
    np.testing.assert_allclose(y[0, 5:, 0], reference, atol=1e-6)


def test_line_plane_and_ring_hold_their_values():
    y, _ = T.line(steps=5, pulse=1).targets(trial([0.3, 0, 0, -0.7, 0]))
    np.testing.assert_allclose(y[0, :, 0], [0, 0.3, 0.3, 0, -0.7], atol=1e-7)
    y, mask = T.plane(steps=4, pulse=1).targets(trial([0.5, 0, 0, 0], [-0.25, 0, 0.75, 0]))
    np.testing.assert_allclose(y[0], [[0, 0], [0.5, -0.25], [0.5, 0], [0.5, 0.75]], atol=1e-7)
    assert mask[0, :, 1].tolist() == [F, X, F, X]  # channel 1 is not scored during its own pulse
    a = 2.0
    y, mask = T.ring(steps=3, pulse=1).targets(trial([np.cos(a), 0, 0], [np.sin(a), 0, 0]))
    np.testing.assert_allclose(y[0, 1:], [[np.cos(a), np.sin(a)]] * 2, atol=1e-7)
    assert mask[0, :, 1].tolist() == [F, X, X]


def test_delayed_discrimination_hand_trial():
    task = T.delayed_discrimination(fixation=2, pulse=1, delays=(2, 3), response=2)
    assert task.steps == 8
    x = np.zeros((2, 8, 1))
    x[0, 2], x[0, 5] = 0.8, 0.4  # f1 > f2
    x[1, 2], x[1, 5] = 0.3, 0.9  # f1 < f2
    y, mask = task.targets(x)
    assert y[0, :, 0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert y[1, :, 0].tolist() == [0, 0, 0, 0, 0, 0, -1, -1]
    assert mask.all()
    long = np.zeros((1, 12, 1))
    long[0, 2], long[0, 4] = 0.8, 0.4
    y, mask = task.targets(long)
    assert y[0, :, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert mask[0, :, 0].tolist() == [X] * 7 + [F] * 5  # after the response window: not scored


def test_delayed_discrimination_generated_trials():
    task = T.delayed_discrimination()
    x, y, mask = task.generate(200, seed=3)
    f = [row[row != 0] for row in x[:, :, 0]]
    assert all(len(v) == 2 * task.pulse for v in f)
    f1, f2 = np.array([v[0] for v in f]), np.array([v[-1] for v in f])
    assert np.all(np.abs(f1 - f2) >= task.min_difference - 1e-6)
    assert np.all((f1 >= 0.2) & (f1 <= 1.0) & (f2 >= 0.2) & (f2 <= 1.0))
    final = y[np.arange(200), mask[:, :, 0].sum(1) - 1, 0]
    np.testing.assert_array_equal(final, np.sign(f1 - f2))


def test_sine_frequency_is_set_by_the_static_input():
    task = T.sine(steps=6, frequencies=(0.1, 0.6), levels=2)
    y, mask = task.targets(np.stack([np.full((6, 1), 0.25), np.full((6, 1), 0.75)]))
    t = np.arange(6)
    np.testing.assert_allclose(y[:, :, 0], [np.sin(0.1 * t), np.sin(0.6 * t)], atol=1e-6)
    assert mask.all()
    x, y, _ = T.sine().generate(16, seed=0)
    assert np.all(x == x[:, :1])  # static input
    levels = np.round((x[:, 0, 0] - 0.25) * 51, 4)
    np.testing.assert_array_equal(levels, np.round(levels))


def test_path_integration_is_a_cumulative_sum():
    v = trial([0.1, -0.2, 0.3], [0.0, 0.5, 0.5])
    y, mask = T.path_integration(steps=3).targets(v)
    np.testing.assert_allclose(y[0], [[0.1, 0.0], [-0.1, 0.5], [0.2, 1.0]], atol=1e-7)
    assert mask.all()


ALL_TASKS = [
    T.flipflop(3),
    T.cycle(),
    T.line(),
    T.plane(),
    T.ring(),
    T.delayed_discrimination(),
    T.sine(),
    T.path_integration(),
    T.multitask([T.flipflop(1), T.line(1)], "gated"),
    T.multitask([T.flipflop(1), T.cycle(1)], "orthogonal"),
    T.multitask([T.ring(), T.sine(steps=200), T.flipflop(1)], "parallel"),
]


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_generated_trials_are_seeded_shaped_and_self_consistent(task):
    x, y, mask = task.generate(8, seed=11)
    assert x.shape == (8, task.steps, task.n_inputs) and x.dtype == np.float32
    assert y.shape == mask.shape == (8, task.steps, task.n_outputs)
    assert np.all(y[~mask] == 0)
    y2, mask2 = task.targets(x)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(mask, mask2)
    again = task.generate(8, seed=11)
    for a, b in zip((x, y, mask), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(x, task.generate(8, seed=12).inputs)
    assert T.from_dict(task.to_dict()) == task


def test_pulse_schedule_follows_turner_barak():
    task = T.flipflop(1)
    x = task.generate(64, seed=0).inputs[:, :, 0]
    for row in x:
        onsets = np.flatnonzero(np.diff(np.concatenate([[0], row != 0]).astype(int)) == 1)
        assert onsets[0] == 0
        assert set(np.unique(row)) <= {-1.0, 0.0, 1.0}
        gaps = np.diff(onsets) - task.pulse
        assert np.all((gaps >= 10) & (gaps < 40))
    x = T.flipflop(3).generate(64, seed=0).inputs
    assert np.all(x[:, :5] != 0)  # every bit pulses at t = 0
    later = (x[:, 5:] != 0).sum(axis=2)
    assert later.max() == 1  # afterwards one bit per event
    events = np.flatnonzero(np.diff(np.concatenate([[0], later[0]])) == 1) + 5
    gaps = np.diff(np.concatenate([[0], events])) - 5
    assert np.all((gaps >= 10) & (gaps < 30))


def test_line_values_are_uniform():
    x = T.line().generate(400, seed=1).inputs[:, 0, 0]
    assert np.all(np.abs(x) < 1) and abs(x.mean()) < 0.1 and abs(x.var() - 1 / 3) < 0.05


def hand_multitask(mode):
    tasks = [T.flipflop(1, steps=6, pulse=2), T.line(1, steps=6, pulse=2)]
    x = np.zeros((2, 6, 2))
    x[0, :2, 0] = -1  # trial 0: the flip-flop
    x[1, :2, 1] = 0.5  # trial 1: the line
    x[1, 3:5, 1] = 0.25
    return T.multitask(tasks, mode).targets(x)


def test_gated_mode_scores_only_the_active_task():
    y, mask = hand_multitask("gated")
    assert y[0, :, 0].tolist() == [0, 0, -1, -1, -1, -1]
    assert mask[0, :, 0].tolist() == [F, F, X, X, X, X]
    assert not mask[0, :, 1].any() and not mask[1, :, 0].any()  # the other output is free
    np.testing.assert_allclose(y[1, :, 1], [0, 0, 0.5, 0, 0, 0.25])
    assert mask[1, :, 1].tolist() == [F, F, X, F, F, X]


def test_orthogonal_mode_holds_the_other_outputs_at_zero():
    y, mask = hand_multitask("orthogonal")
    assert mask[0, :, 1].all() and np.all(y[0, :, 1] == 0)
    assert mask[1, :, 0].all() and np.all(y[1, :, 0] == 0)
    assert mask[0, :, 0].tolist() == [F, F, X, X, X, X]


def test_parallel_mode_scores_every_task():
    y, mask = hand_multitask("parallel")
    # the flip-flop of trial 1 never got a pulse: nothing to hold yet, so not scored
    assert not mask[1, :, 0].any() and not mask[0, :, 1].any()
    assert mask[0, :, 0].tolist() == [F, F, X, X, X, X]


def test_generated_gated_and_orthogonal_trials_have_one_task_each():
    tasks = [T.flipflop(1), T.line(1), T.cycle(1)]
    for mode in ("gated", "orthogonal"):
        task = T.multitask(tasks, mode)
        x, y, mask = task.generate(60, seed=4)
        active = np.any(x != 0, axis=1)
        assert np.all(active.sum(axis=1) == 1)
        assert set(np.argmax(active, axis=1)) == {0, 1, 2}
        inactive_scored = mask.any(axis=1)[~active]
        assert inactive_scored.all() if mode == "orthogonal" else not inactive_scored.any()


def test_parallel_flipflops_are_the_n_bit_flipflop():
    combined = T.multitask([T.flipflop(1), T.flipflop(1)], "parallel").generate(32, seed=5)
    for a, b in zip(combined, T.flipflop(2).generate(32, seed=5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_ood_stretches_trials_and_delays():
    task = T.flipflop(2).ood(2.0)
    assert task.steps == 400 and task.gaps == (20, 60)
    assert T.delayed_discrimination().ood(3).delays == (30, 120)
    assert T.sine().ood().steps == 400 and T.path_integration().ood(1.5).steps == 150
    multi = T.multitask([T.flipflop(1), T.line(1)], "orthogonal").ood()
    assert multi.steps == 400 and multi.mode == "orthogonal"
    x, _, _ = task.generate(4, seed=0)
    assert x.shape == (4, 400, 2)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="mode"):
        T.multitask([T.flipflop(1)], "serial")
    with pytest.raises(TypeError, match="tasks"):
        T.multitask([T.flipflop(1), "line"], "gated")
    with pytest.raises(TypeError, match="tasks"):
        T.multitask(T.flipflop(1), "gated")
    with pytest.raises(ValueError, match="item"):
        T.PulseTask(("flipflip",))
    with pytest.raises(ValueError, match="gaps"):
        T.flipflop(1, gaps=(5, 5))
    with pytest.raises(TypeError, match="gaps"):
        T.flipflop(1, gaps=10)
    with pytest.raises(ValueError, match="bits"):
        T.flipflop(0)
    with pytest.raises(TypeError, match="bits"):
        T.flipflop(2.0)
    with pytest.raises(ValueError, match="batch"):
        T.flipflop().generate(0)
    with pytest.raises(TypeError, match="seed"):
        T.flipflop().generate(4, seed="a")
    with pytest.raises(ValueError, match="inputs"):
        T.flipflop(2).targets(np.zeros((1, 10, 3)))
    with pytest.raises(ValueError, match="steps"):
        T.multitask([T.flipflop(1), T.sine(steps=100)], "gated")
    with pytest.raises(ValueError, match="pulse"):
        T.multitask([T.flipflop(1, pulse=5), T.flipflop(1, pulse=3)], "parallel")
    with pytest.raises(ValueError, match="stretch"):
        T.flipflop().ood(0.5)
    with pytest.raises(ValueError, match="unknown task"):
        T.from_dict({"task": "Juggle"})
    with pytest.raises(TypeError, match="spec"):
        T.from_dict("flipflop")


DATA = data_dir()  # LOWRANK_DATA, else ../shared/data/turner2023 (README.md, Data)
FF1 = [T.flipflop(1), T.flipflop(1)]


def turner_barak_networks(name: str, n_out: int):
    """The first three networks of a file of Turner & Barak (2023) as lowrank RNNs."""
    if DATA is None:
        pytest.skip(missing_data_message())
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    stored = np.load(path)
    for s in range(3):
        if "final.m" in stored.files:  # their rank-2 networks: W = m n^T, ours m n^T / N
            weights = {
                "weight_in": stored["final.Wih.weight"][s],
                "m": stored["final.m"][s] * 10.0,
                "n": stored["final.n"][s] * 10.0,
                "bias": stored["final.Wih.bias"][s],
                "weight_out": stored["final.Who.weight"][s],
                "bias_out": stored["final.Who.bias"][s],
            }
            yield RNN(2, 100, n_out, rank=2, bias=True).set_weights(weights)
        else:
            weights = {
                "weight_in": stored["final.rnn.weight_ih_l0"][s],
                "weight_rec": stored["final.rnn.weight_hh_l0"][s],
                "weight_out": stored["final.fc.weight"][s],
                "bias_out": stored["final.fc.bias"][s],
            }
            yield RNN(weights["weight_in"].shape[1], 100, n_out).set_weights(weights)


@pytest.mark.parametrize(
    "name, task, solved",
    [
        ("flipflopparallel_2bits_200_rank2_100.npz", T.flipflop(2), True),
        ("flipflopparallel_3bits_200_vanilla_100.npz", T.flipflop(3), True),
        ("flipflop2bits_200_vanilla_100.npz", T.multitask(FF1, "gated"), True),
        ("flipfloporthogonal_2bits_200_vanilla_100.npz", T.multitask(FF1, "orthogonal"), True),
        # controls: gated networks leave the other output free, so they fail the other modes
        ("flipflop2bits_200_vanilla_100.npz", T.multitask(FF1, "orthogonal"), False),
        ("flipflop2bits_200_vanilla_100.npz", T.flipflop(2), False),
    ],
)
def test_networks_trained_by_turner_barak_solve_our_tasks(name, task, solved):
    """Their trained networks meet our targets and masks: same pulses, gaps, modes, scaling."""
    x, y, mask = task.generate(64, seed=0)
    for model in turner_barak_networks(name, task.n_outputs):
        out, _ = model.run(x)
        mse = np.mean((out - y)[mask] ** 2)
        assert mse < 1e-2 if solved else mse > 0.3


def test_maker_names_every_task_maker_and_nothing_else():
    from lowrank import tasks

    for name in tasks.MAKERS:
        assert tasks.maker(name) is getattr(tasks, name)
        assert isinstance(tasks.maker(name)(), tasks.Task)
    for bad in ("multitask", "from_dict", "Task", "_binary"):
        with pytest.raises(ValueError, match="unknown task maker"):
            tasks.maker(bad)
    with pytest.raises(TypeError, match="task maker must be a string"):
        tasks.maker(3)
