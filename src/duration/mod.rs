//! Durations, in the two syntaxes pullcheck reads: Go's (`time.ParseDuration`: the node's
//! daemons' files, [`go`]) and humantime's, within bounds (pullcheck's own flags and
//! configuration, [`flag`]).

pub mod flag;
pub mod go;
