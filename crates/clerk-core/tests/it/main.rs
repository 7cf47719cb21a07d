//! Integration tests of clerk-core: the reply matrix, property tests and the
//! fuzz corpus replay. One binary, so it links once.

mod corpus;
mod gate;
mod matrix;
mod props;
