"""Analyses of trained and theoretical networks.

Simplicity bias (Turner & Barak, NeurIPS 2023): ``unstable_eigenvalue_count``,
``shared_attractors``, ``f_factor``, ``separability``. Solution degeneracy (Huang et al. 2024):
``dsa_distance`` and ``pairwise_dsa`` (Dynamical Similarity Analysis, Ostrow et al. 2023),
``permutation_invariant_distance``, ``ood_variability``.
"""

from .attractors import SharedAttractors, probe_end_states, shared_attractors
from .behaviour import OODVariability, ood_variability
from .dsa import PairwiseDSA, delay_embedding, dmd_matrix, dsa_distance, pairwise_dsa
from .permutation import PermutationDistance, permutation_invariant_distance
from .procrustes import ProcrustesResult, orthogonal_similarity
from .simplicity import (
    Separability,
    UnstableModes,
    f_factor,
    separability,
    unstable_eigenvalue_count,
)

__all__ = [
    "OODVariability",
    "ood_variability",
    "PairwiseDSA",
    "PermutationDistance",
    "ProcrustesResult",
    "Separability",
    "SharedAttractors",
    "UnstableModes",
    "delay_embedding",
    "dmd_matrix",
    "dsa_distance",
    "f_factor",
    "orthogonal_similarity",
    "pairwise_dsa",
    "permutation_invariant_distance",
    "probe_end_states",
    "separability",
    "shared_attractors",
    "unstable_eigenvalue_count",
]
