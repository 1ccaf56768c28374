"""Token data: next-token prediction on a seeded random Markov chain, and its loss floor.

Each token's successor is drawn from its row of a fixed random transition matrix; every
row is a Dirichlet draw with a small concentration, so each token has a few likely successors
and the chain is learnable. A sequence starts from the chain's stationary distribution, so
the best possible mean cross-entropy at every position is the chain's entropy rate: the
loss floor a model can approach, never pass (in expectation).
"""

from __future__ import annotations

from .lazy import np
from .spec import DataSpec

#: Dirichlet concentration of each row: small = few likely successors = a low loss floor.
CONCENTRATION = 0.1


def transition_matrix(spec: DataSpec, seed: int | None = None) -> np.ndarray:
    """The chain's (vocab, vocab) transition probabilities, rows summing to 1 (float64).

    Drawn from a stream of its own, so the loss floor is known without drawing the data.
    """
    rng = np.random.default_rng([3, spec.seed if seed is None else seed])
    return rng.dirichlet(np.full(spec.vocab, CONCENTRATION), size=spec.vocab)


def stationary_distribution(matrix: np.ndarray) -> np.ndarray:
    """pi with pi P = pi, summing to 1 (every entry of a Dirichlet draw is positive, so the
    chain is irreducible and aperiodic and pi is unique)."""
    n = matrix.shape[0]
    # pi (P - I) = 0 with sum(pi) = 1, as one least-squares system.
    system = np.vstack([matrix.T - np.eye(n), np.ones(n)])
    target = np.zeros(n + 1)
    target[-1] = 1.0
    pi = np.linalg.lstsq(system, target, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def entropy_rate(matrix: np.ndarray) -> float:
    """H = -sum_i pi_i sum_j P_ij log P_ij, in nats."""
    pi = stationary_distribution(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(matrix > 0, np.log(matrix), 0.0)
    return float(-(pi[:, None] * matrix * logs).sum())


def loss_floor(spec: DataSpec, seed: int | None = None) -> float | None:
    """The lowest mean cross-entropy a model can expect on this data (the entropy rate of its
    chain, nats), or None for data that is not token data."""
    if spec.kind != "tokens":
        return None
    return entropy_rate(transition_matrix(spec, seed))


def token_sequences(spec: DataSpec, rng: np.random.Generator,
                    seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) int64 of shape (samples, seq_len): y is x shifted by one, the next token."""
    matrix = transition_matrix(spec, seed)
    cumulative = np.cumsum(matrix, axis=1)
    n, steps = spec.samples, spec.input_shape[0]
    tokens = np.empty((n, steps + 1), np.int64)
    tokens[:, 0] = rng.choice(spec.vocab, size=n, p=stationary_distribution(matrix))
    draws = rng.random((n, steps))
    for t in range(steps):
        rows = cumulative[tokens[:, t]]
        # The first successor whose cumulative probability passes the draw (clipped: the
        # last cumulative value may round just below 1).
        nxt = (rows < draws[:, t:t + 1]).sum(axis=1)
        tokens[:, t + 1] = np.minimum(nxt, spec.vocab - 1)
    return tokens[:, :-1], tokens[:, 1:]
