/**
 * Counts map nodes visited by lookups in `BlockVector` and `DirMap`.
 *
 * It exists so tests can prove a cost without timing it: reading a file at the bottom of a
 * 1000-layer chain must visit as many nodes as at depth 1, because every snapshot holds its own
 * complete map. One counter per process; tests read it before and after a call.
 */
export const nodeVisits = { count: 0 };
