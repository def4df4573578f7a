//! The brand enterprise's own side of zhenwei (issue 7 "Enterprise" and "Authentication").
//!
//! * [`operators`] — who may speak for an enterprise: operator client certificates, confirmed
//!   under a two-person rule (a primary and a secondary, each confirmed by someone else),
//!   revocable; the pure access decision.
//! * [`market`] — what an operator sees: its products, code ranges and activations, the query
//!   statistics (per day and channel, per city, per product), aggregated in the database.
//!
//! Its cases are listed by [`crate::cases::casework::list_of_enterprise`]. The HTTP API that
//! enforces all of this is the server's `enterprise_api` module.

pub mod market;
pub mod operators;
