//! Dockerfiles: the syntax tree ([`ast`]).

pub mod ast;
