-- The outbox claim (core/src/cases/outbox.rs `claim`) takes the deliveries owed — pending, or
-- sending with a lapsed lease — oldest due first, a few at a time. With only deliveries_due
-- (state, next_attempt_at) every claim read and sorted every due row of both states: O(backlog)
-- per claim, 10.9 ms at 12,416 due rows on PostgreSQL, while an office was unreachable. This
-- partial index holds the owed rows in claim order, so a claim reads just the rows it takes
-- (0.2 ms at the same backlog). Its predicate is the claim's own `state IN (...)` term, which
-- both planners need to see literally. Keep in step with the other backend's 0024.
CREATE INDEX deliveries_owed ON deliveries (next_attempt_at, id) WHERE state IN ('pending', 'sending');
