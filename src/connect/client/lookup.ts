// Title lookups as 1Password's operator resolves them: case-insensitive, the oldest of several wins.

/**
 * The candidate whose title equals `title` case-insensitively and whose `createdAt` is earliest;
 * on equal times the first in list order, as the Go operator picks. Servers filter by title
 * already, but their matching rules are not specified, so matches are re-checked here. An
 * unparseable `createdAt` sorts after every valid one.
 */
export function pickOldestByTitle<T extends { createdAt: string }>(
  candidates: readonly T[],
  title: string,
  titleOf: (candidate: T) => string,
): T | undefined {
  const wanted = title.toLowerCase();
  let oldest: T | undefined;
  let oldestTime = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (titleOf(candidate).toLowerCase() !== wanted) continue;
    const time = Date.parse(candidate.createdAt);
    const comparable = Number.isNaN(time) ? Number.POSITIVE_INFINITY : time;
    if (oldest === undefined || comparable < oldestTime) {
      oldest = candidate;
      oldestTime = comparable;
    }
  }
  return oldest;
}
