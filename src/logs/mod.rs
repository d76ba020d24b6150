//! The gateway's JSON logs: parsing, rules, one-pass scans and (in `tail`)
//! lossless following across rotations and restarts.

pub mod parse;
pub mod prefilter;
pub mod rules;
pub mod scan;
pub mod tail;
pub mod watch;
