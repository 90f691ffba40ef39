//! Dockerfiles: the syntax tree ([`ast`]), the parser that builds it ([`parse`]), and the
//! variable substitution the builder applies to instruction arguments ([`expand`]).

pub mod ast;
pub mod expand;
pub mod parse;
