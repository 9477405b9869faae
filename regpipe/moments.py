"""Mean and spread merged over chunks, for the stages that read a column a chunk at a time."""


def merged_moments(
    first: tuple[int, float, float], second: tuple[int, float, float]
) -> tuple[int, float, float]:
    """Count, mean and sum of squared deviations of two parts merged (Chan et al.'s update):
    the one-array figures to rounding, without holding both parts."""
    (count, mean, squares), (other_count, other_mean, other_squares) = first, second
    total = count + other_count
    delta = other_mean - mean
    merged_squares = squares + other_squares + delta * delta * count * other_count / total
    return total, mean + delta * other_count / total, merged_squares
